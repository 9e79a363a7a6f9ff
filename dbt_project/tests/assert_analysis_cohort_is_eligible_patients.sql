-- Invariant (docs/specification.md section 3): marts.analysis_cohort holds exactly the patients of
-- marts.patients with is_eligible, each once, all with a RAIT group and a PFS row.
-- Returns patients in one set and not the other, or cohort rows missing their PFS.

with analysis_cohort as (

    select * from {{ ref('analysis_cohort') }}

),

patients as (

    select * from {{ ref('patients') }}

),

eligible_patients as (

    select patient_id from patients
    where is_eligible

),

missing_from_cohort as (

    select
        eligible_patients.patient_id,
        'eligible but not in analysis_cohort' as problem
    from eligible_patients
    left join analysis_cohort
        on eligible_patients.patient_id = analysis_cohort.patient_id
    where analysis_cohort.patient_id is null

),

not_eligible_in_cohort as (

    select
        analysis_cohort.patient_id,
        'in analysis_cohort but not eligible' as problem
    from analysis_cohort
    left join eligible_patients
        on analysis_cohort.patient_id = eligible_patients.patient_id
    where eligible_patients.patient_id is null

),

incomplete_rows as (

    select
        patient_id,
        'eligible without RAIT group or PFS' as problem
    from analysis_cohort
    where rait_group is null or pfs_months is null

),

final as (

    select * from missing_from_cohort
    union all
    select * from not_eligible_in_cohort
    union all
    select * from incomplete_rows

)

select * from final
