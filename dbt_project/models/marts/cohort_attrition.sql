-- Mart (docs/specification.md section 3, marts.cohort_attrition): one row per eligibility step. Step 0
-- (criterion all_patients) counts every patient of marts.patients; step k = 1..6 is the
-- criterion of docs/specification.md section 2 (criterion = its column name), n_excluded = patients whose
-- first failing criterion is step k (exclusion_reason), n_remaining = patients left after the
-- step. n_remaining of step 6 equals the size of marts.analysis_cohort.

-- Counts over every patient: a table rebuilt whole at every refresh (not incremental per patient).
{{ config(materialized='table') }}

{%- set n_steps = eligibility_criteria() | length %}

with patients as (

    select * from {{ ref('patients') }}

),

steps as (

    select
        0 as step,
        {{ dbt.string_literal('all_patients') }} as criterion
    {%- for criterion in eligibility_criteria() %}
        union all
        select
            {{ criterion['step'] }} as step,
            {{ dbt.string_literal(criterion['name']) }} as criterion
    {%- endfor %}
    -- bookkeeping row for the eligible patients (step n + 1), dropped in final
    union all
    select
        {{ n_steps + 1 }} as step,
        {{ dbt.string_literal('eligible') }} as criterion

),

patients_per_step as (

    select
        coalesce(exclusion_step, {{ n_steps + 1 }}) as step,
        count(*) as n_patients
    from patients
    group by coalesce(exclusion_step, {{ n_steps + 1 }})

),

counted as (

    select
        steps.step,
        steps.criterion,
        case when steps.step = 0 then 0 else coalesce(patients_per_step.n_patients, 0) end as n_excluded
    from steps
    left join patients_per_step
        on steps.step = patients_per_step.step

),

remaining as (

    select
        step,
        criterion,
        n_excluded,
        sum(n_excluded) over () - sum(n_excluded) over (
            order by step rows between unbounded preceding and current row
        ) as n_remaining
    from counted

),

final as (

    select
        step,
        criterion,
        {{ dbt.cast('n_remaining', api.Column.translate_type('bigint')) }} as n_remaining,
        {{ dbt.cast('n_excluded', api.Column.translate_type('bigint')) }} as n_excluded
    from remaining
    where step <= {{ n_steps }}

)

select * from final
