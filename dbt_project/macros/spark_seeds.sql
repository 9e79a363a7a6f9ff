{#-
  Seeds on Spark: dbt-spark's own spark__load_csv_rows passes the values as bindings, and its
  `session` method pastes them into the SQL as '<value>' without escaping, so a quote in a seed
  value (response_categories: "the cycle's window") is a syntax error and an empty cell becomes
  the text 'None'. This override writes each value as an escaped Spark literal instead (NULL for
  an empty cell); the statement is otherwise dbt-spark's. Used for every Spark connection method.
-#}
-- noqa: disable=LT02
-- (sqlfluff lints the insert statement built inside the macro as if it were a top-level statement
-- and asks for it flush left; the macro body keeps the usual indentation. dbt ignores this text
-- outside the macros.)
{% macro spark__load_csv_rows(model, agate_table) %}
  {%- set batch_size = get_batch_size() -%}
  {%- set column_override = model['config'].get('column_types', {}) -%}
  {%- set statements = [] -%}
  {%- for chunk in agate_table.rows | batch(batch_size) -%}
      {%- set sql -%}
          insert into {{ this.render() }} values
          {% for row in chunk -%}
              ({%- for col_name in agate_table.column_names -%}
                  {%- set inferred_type = adapter.convert_type(agate_table, loop.index0) -%}
                  {%- set type = column_override.get(col_name, inferred_type) -%}
                    cast({{ rait_spark_literal(row[loop.index0]) }} as {{ type }})
                  {%- if not loop.last %},{% endif -%}
              {%- endfor -%})
              {%- if not loop.last %},{% endif %}
          {% endfor %}
      {%- endset -%}
      {%- do adapter.add_query(sql, abridge_sql_log=True) -%}
      {%- if loop.index0 == 0 -%}
          {%- do statements.append(sql) -%}
      {%- endif -%}
  {%- endfor -%}
  {{ return(statements[0]) }}
{% endmacro %}

{#- One seed cell as a Spark SQL literal (backslash escapes are on by default in Spark SQL). -#}
{% macro rait_spark_literal(value) -%}
    {%- if value is none -%}
        null
    {%- elif value is sameas true -%}
        true
    {%- elif value is sameas false -%}
        false
    {%- elif value is number -%}
        {{ value }}
    {%- else -%}
        '{{ value | string | replace("\\", "\\\\") | replace("'", "\\'") }}'
    {%- endif -%}
{%- endmacro %}
