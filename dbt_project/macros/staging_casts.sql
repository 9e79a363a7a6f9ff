{#-
  Casts used by the staging layer. Raw tables hold the accepted rows of the extract as text
  (the ingest step has already checked every value against contract section 1), so a cast here
  cannot fail on accepted data. Portable: dbt's cross-database `cast` and type translation.
-#}

{% macro clean_text(column) -%}
    nullif(trim({{ column }}), '')
{%- endmacro %}

{% macro to_date(column) -%}
    {{ dbt.cast(clean_text(column), api.Column.translate_type('date')) }}
{%- endmacro %}

{% macro to_decimal(column) -%}
    {{ dbt.cast(clean_text(column), type_double()) }}
{%- endmacro %}

{% macro to_integer(column) -%}
    {{ dbt.cast(clean_text(column), api.Column.translate_type('integer')) }}
{%- endmacro %}

{% macro to_boolean(column) -%}
    case lower(trim({{ column }})) when 'true' then true when 'false' then false end
{%- endmacro %}

{#- Case-insensitive vocabulary match, returning the contract spelling (contract section 1). -#}
{% macro canonical_vocab(column, values) -%}
    case lower(trim({{ column }}))
    {%- for value in values %}
        when '{{ value | lower }}' then '{{ value }}'
    {%- endfor %}
    end
{%- endmacro %}
