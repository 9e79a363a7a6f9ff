-- Invariant (docs/specification.md section 3): the attrition table starts with all patients, every step's
-- n_remaining = previous n_remaining - n_excluded, n_excluded at step k = patients whose
-- exclusion_reason is that criterion, and the last n_remaining = size of analysis_cohort.
-- Returns the offending steps.

{%- set n_steps = eligibility_criteria() | length %}

with cohort_attrition as (

    select * from {{ ref('cohort_attrition') }}

),

patients as (

    select * from {{ ref('patients') }}

),

analysis_cohort as (

    select * from {{ ref('analysis_cohort') }}

),

patient_count as (

    select
        0 as step,
        count(*) as n_patients
    from patients

),

cohort_count as (

    select
        {{ n_steps }} as step,
        count(*) as n_cohort
    from analysis_cohort

),

reasons as (

    select
        exclusion_reason,
        count(*) as n_patients_with_reason
    from patients
    where exclusion_reason is not null
    group by exclusion_reason

),

with_previous as (

    select
        step,
        criterion,
        n_remaining,
        n_excluded,
        lag(n_remaining) over (order by step) as previous_n_remaining
    from cohort_attrition

),

final as (

    select with_previous.*
    from with_previous
    left join patient_count
        on with_previous.step = patient_count.step
    left join cohort_count
        on with_previous.step = cohort_count.step
    left join reasons
        on with_previous.criterion = reasons.exclusion_reason
    where
        (
            with_previous.step = 0
            and (with_previous.n_remaining <> patient_count.n_patients or with_previous.n_excluded <> 0)
        )
        or (
            with_previous.step > 0
            and (
                with_previous.n_remaining <> with_previous.previous_n_remaining - with_previous.n_excluded
                or with_previous.n_excluded <> coalesce(reasons.n_patients_with_reason, 0)
            )
        )
        or (
            with_previous.step = {{ n_steps }}
            and with_previous.n_remaining <> cohort_count.n_cohort
        )
        or with_previous.step not between 0 and {{ n_steps }}

)

select * from final
