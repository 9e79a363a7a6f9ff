{#-
  Incremental refreshes (docs/incremental.md): the intermediate and mart models are recomputed
  for the patients whose accepted records changed since the last published refresh, and carried
  forward for every other patient.

  The refresh decides the kind of build and writes the patients to recompute into
  history.changed_patients (one row per patient_id). dbt reads two things from it:
  - the var refresh_mode: 'incremental' for an incremental refresh. Anything else, and a plain
    `dbt build` without the var, is a full build (every incremental model is rebuilt whole, as
    with --full-refresh);
  - history.changed_patients, read only in an incremental build.

  A patient-scoped model (every model of intermediate/ and marts/ but cohort_attrition: see
  dbt_project.yml) reads each of its patient-level inputs with
      select * from {{ only_changed_patients(ref('...')) }}
  and is written with the strategy patient_replace: delete the rows of every changed patient,
  then insert the rows just computed (a patient who no longer has any row in the model, e.g.
  removed from the extract, is deleted too, which dbt's delete+insert, keyed on the rows it
  inserts, would miss).
-#}

{#- True in an incremental refresh (the var refresh_mode is 'incremental'). -#}
{% macro incremental_refresh() %}
    {{ return(var('refresh_mode', 'full') == 'incremental') }}
{% endmacro %}


{#- The table of patients to recompute, written by the refresh before `dbt build`. -#}
{% macro changed_patients_relation() %}
    {{ return('history.changed_patients') }}
{% endmacro %}


{#- The relation an import CTE of an incremental model reads: in an incremental build, only the
    rows of the patients to recompute; otherwise the relation itself. -#}
{% macro only_changed_patients(relation, column='patient_id') -%}
    {#- a dbt unit test has no `this`: it tests the full build -#}
    {%- if this is not none and incremental_refresh() and is_incremental() -%}
        (select * from {{ relation }} where {{ column }} in (select patient_id from {{ changed_patients_relation() }}))
        as {{ relation.identifier }}
    {%- else -%}
        {{ relation }}
    {%- endif -%}
{%- endmacro %}


{#- `<keyword> patient_id in (the patients to recompute)` in an incremental refresh, nothing
    otherwise; keyword is `where` or `and`. -#}
{% macro changed_patients_condition(keyword) -%}
    {%- if incremental_refresh() -%}
        {{ keyword }} patient_id in (select patient_id from {{ changed_patients_relation() }})
    {%- endif -%}
{%- endmacro %}


{#- dbt's should_full_refresh (global project, materializations/configs.sql), which every
    incremental model and seed asks: a full build unless this is an incremental refresh. A
    model's own full_refresh config and --full-refresh still win. -#}
{% macro should_full_refresh() %}
    {% set config_full_refresh = config.get('full_refresh') %}
    {% if config_full_refresh is none %}
        {% set config_full_refresh = flags.FULL_REFRESH or not incremental_refresh() %}
    {% endif %}
    {% do return(config_full_refresh) %}
{% endmacro %}


{#- The incremental strategy patient_replace: the changed patients' rows are deleted, and the rows
    computed for them inserted. Portable SQL (DuckDB, PostgreSQL); Spark builds are always full. -#}
{% macro get_incremental_patient_replace_sql(arg_dict) %}
    {%- set target_relation = arg_dict['target_relation'] -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    {%- if incremental_refresh() %}
    delete from {{ target_relation }}
    where patient_id in (select patient_id from {{ changed_patients_relation() }});

    -- only the changed patients' rows: a model that forgot only_changed_patients() costs time, not
    -- correctness
    insert into {{ target_relation }} ({{ columns }})
    select {{ columns }} from {{ arg_dict['temp_relation'] }}
    where patient_id in (select patient_id from {{ changed_patients_relation() }})
    {%- else %}
    -- not an incremental refresh (e.g. this project used as a package, where dbt's own
    -- should_full_refresh applies): every row is replaced
    delete from {{ target_relation }};

    insert into {{ target_relation }} ({{ columns }})
    select {{ columns }} from {{ arg_dict['temp_relation'] }}
    {%- endif %}
{% endmacro %}


{#- dbt's get_where_subquery (the relation a generic data test reads), overridden as dbt's docs
    on the `where` config describe: in an incremental refresh, a test attached to a
    patient-scoped relation (an incremental model, or a staging view, with a patient_id column)
    reads the changed patients' rows only. Every other patient's rows are those that passed the
    same tests at the last published refresh. Singular tests (tests/) read the whole relations. -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if incremental_refresh() and is_patient_scoped(model.get('attached_node')) -%}
        {%- set changed = 'patient_id in (select patient_id from ' ~ changed_patients_relation() ~ ')' -%}
        {%- set where = '(' ~ where ~ ') and ' ~ changed if where else changed -%}
    {%- endif -%}
    {%- if where -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}


{#- True for the unique_id of a model computed per patient: incremental, or a staging view, with
    a documented patient_id column. -#}
{% macro is_patient_scoped(unique_id) %}
    {%- if not unique_id or unique_id not in graph.nodes -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set node = graph.nodes[unique_id] -%}
    {{ return(node.resource_type == 'model'
              and node.config.materialized in ('incremental', 'view')
              and 'patient_id' in node.columns) }}
{% endmacro %}
