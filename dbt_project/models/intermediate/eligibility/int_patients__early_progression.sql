-- Rule (docs/specification.md section 2, eligibility exclusion 6 `early_progression`), one row per patient:
--   true (excluded) when some new-lesion event lies in cycle k's evaluation window at most
--   var early_pd_exclusion_days (183) days after admin_k (days_after_admin <= 183); false
--   otherwise, also without a RAIT (never NULL).

with patients as (

    select * from {{ only_changed_patients(ref('stg_registry__patients')) }}

),

new_lesion_events as (

    select * from {{ only_changed_patients(ref('int_imaging_findings__new_lesion_events')) }}

),

early_events as (

    select
        patient_id,
        min(study_date) as first_early_event_date
    from new_lesion_events
    where days_after_admin <= {{ var('early_pd_exclusion_days') }}
    group by patient_id

),

final as (

    select
        patients.patient_id,
        early_events.first_early_event_date,
        early_events.patient_id is not null as early_progression
    from patients
    left join early_events
        on patients.patient_id = early_events.patient_id

)

select * from final
