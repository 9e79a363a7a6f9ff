{#-
  Render ref() and source() without the database (catalog) part.

  The build happens in a new file that is renamed onto the published path afterwards, and
  analysts may ATTACH the published file under any alias: views must therefore not embed
  the catalog name of the file they were built in.
-#}
{% macro ref() %}
    {%- set relation = builtins.ref(*varargs, **kwargs) -%}
    {{ return(relation.include(database=false)) }}
{% endmacro %}

{% macro source(source_name, table_name) %}
    {%- set relation = builtins.source(source_name, table_name) -%}
    {{ return(relation.include(database=false)) }}
{% endmacro %}
