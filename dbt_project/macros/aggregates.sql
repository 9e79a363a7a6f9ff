{#- Portable aggregates the derivation models need beyond dbt's own cross-database macros. -#}

{#- Ordinary median (mean of the two middle values for an even count). -#}
{% macro median(column) -%}
    {{ return(adapter.dispatch('median', 'rait_registry')(column)) }}
{%- endmacro %}

{% macro default__median(column) -%}
    percentile_cont(0.5) within group (order by {{ column }})
{%- endmacro %}

{% macro duckdb__median(column) -%}
    median({{ column }})
{%- endmacro %}

{% macro spark__median(column) -%}
    percentile({{ column }}, 0.5)
{%- endmacro %}

{#- True when the expression is true on some row (NULL counts as false); false over no rows. -#}
{% macro any_true(expression) -%}
    coalesce(max(case when {{ expression }} then 1 else 0 end), 0) = 1
{%- endmacro %}

{#- A contract vocabulary subset as an SQL list literal: ('a', 'b'). -#}
{% macro sql_list(values) -%}
    ({% for value in values %}{{ dbt.string_literal(value) }}{% if not loop.last %}, {% endif %}{% endfor %})
{%- endmacro %}
