{#-
  The `unique` data test on DuckDB, at registry scale.

  dbt's default groups the column's values and keeps those seen more than once. Grouping 26
  million lab_id strings took 5.6 s of every refresh of a million-patient registry; grouping
  their 64-bit hashes takes a fraction of that. Only values whose hash occurs more than once
  (true duplicates, or a rare hash collision) are then grouped by value, so the test returns
  exactly the rows of dbt's default: each duplicated value with its number of records.
  PostgreSQL and Spark keep dbt's default.
-#}
{% macro duckdb__test_unique(model, column_name) %}

with repeated_hashes as (

    select hash({{ column_name }}) as value_hash
    from {{ model }}
    where {{ column_name }} is not null
    group by hash({{ column_name }})
    having count(*) > 1

)

select
    {{ column_name }} as unique_field,
    count(*) as n_records
from {{ model }}
where {{ column_name }} is not null
    and hash({{ column_name }}) in (select value_hash from repeated_hashes)
group by {{ column_name }}
having count(*) > 1

{% endmacro %}
