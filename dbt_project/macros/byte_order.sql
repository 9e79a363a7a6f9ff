{#-
  Byte-order comparison of an id (docs/specification.md section 2: "when several rows qualify on the same
  date, the one with the smallest id (byte order) is taken"). Every tie-break on an id goes
  through this one macro. DuckDB and Spark compare text by bytes by default; PostgreSQL needs
  the "C" collation, whatever the database collation is.
  Usage: order by study_date, {{ byte_order('finding_id') }}
-#}
{% macro byte_order(column) -%}
    {{ return(adapter.dispatch('byte_order', 'rait_registry')(column)) }}
{%- endmacro %}

{% macro default__byte_order(column) -%}
    {{ column }}
{%- endmacro %}

{% macro postgres__byte_order(column) -%}
    {{ column }} collate "C"
{%- endmacro %}
