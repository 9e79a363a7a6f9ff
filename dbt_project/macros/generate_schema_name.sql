{#- Schemas are exactly staging / intermediate / marts / reference
    (docs/specification.md section 3: no main_ prefixes). -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
