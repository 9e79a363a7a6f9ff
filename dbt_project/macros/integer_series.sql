{#-
  The integers 0 .. n - 1 as a subquery with one column, `n`, without a hub package or an
  engine-specific generator (generate_series is DuckDB/PostgreSQL only): the ten digits cross
  joined once per decimal place. Used to lay out months since the first RAIT
  (int_patient_months__strategy_evidence). n must be a power of ten (10, 100, 1000, ...).
-#}
{% macro integer_series(upper_bound) -%}
    {%- set places = (upper_bound | string | length) - 1 -%}
    {%- if upper_bound != 10 ** places or places < 1 -%}
        {{ exceptions.raise_compiler_error("integer_series needs a power of ten >= 10, not " ~ upper_bound) }}
    {%- endif -%}
    {%- set digits = "(select 0 as digit union all select " ~ (range(1, 10) | join(" union all select ")) -%}
    {%- set terms = [] -%}
    {%- set tables = [] -%}
    {%- for place in range(places) -%}
        {%- do terms.append("digits_" ~ place ~ ".digit * " ~ (10 ** place)) -%}
        {%- do tables.append(digits ~ ") as digits_" ~ place) -%}
    {%- endfor -%}
    (select {{ terms | join(" + ") }} as n from {{ tables | join(" cross join ") }})
{%- endmacro %}
