{#-
  Calendar-day arithmetic of docs/specification.md section 2, on top of dbt's cross-database macros so the
  models run unchanged on DuckDB, PostgreSQL and Spark. "Days are calendar days;
  months = days / 30.4375; years = days / 365.25; values are not rounded."
-#}

{#- date + n calendar days, as a DATE (dbt.dateadd may return a timestamp). -#}
{% macro add_days(date_expression, days) -%}
    {{ dbt.cast(dbt.dateadd('day', days, date_expression), api.Column.translate_type('date')) }}
{%- endmacro %}

{#- Calendar days from start_date to end_date (end - start). -#}
{% macro days_between(start_date, end_date) -%}
    {{ dbt.datediff(start_date, end_date, 'day') }}
{%- endmacro %}

{#- Days expressed in months (30.4375 days) or years (365.25 days), unrounded. -#}
{% macro days_to_months(days_expression) -%}
    ({{ dbt.cast(days_expression, type_double()) }} / 30.4375)
{%- endmacro %}

{% macro days_to_years(days_expression) -%}
    ({{ dbt.cast(days_expression, type_double()) }} / 365.25)
{%- endmacro %}

{#- A date-valued project var (ISO 'YYYY-MM-DD') as a DATE literal. -#}
{% macro date_var(name) -%}
    {{ dbt.cast(dbt.string_literal(var(name)), api.Column.translate_type('date')) }}
{%- endmacro %}

{#-
  8-byte floating point type. dbt's type_float() / translate_type('float') is FLOAT, which is
  4-byte REAL on DuckDB (5.55 would read back as 5.550000190734863); every decimal of the
  contract is held as a double instead: DOUBLE PRECISION (DuckDB, PostgreSQL), DOUBLE (Spark).
-#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'rait_registry')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double precision
{%- endmacro %}

{% macro spark__type_double() -%}
    double
{%- endmacro %}

{#- date + n calendar months, as a DATE (a day missing in the target month gives its last day). -#}
{% macro add_months(date_expression, months) -%}
    {{ dbt.cast(dbt.dateadd('month', months, date_expression), api.Column.translate_type('date')) }}
{%- endmacro %}
