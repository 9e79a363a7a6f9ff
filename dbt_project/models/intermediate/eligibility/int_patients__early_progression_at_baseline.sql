-- Rule (docs/specification.md section 2, "Eligibility at baseline", exclusion 6), one row per patient:
--   early_progression_at_baseline (true = excluded) = a new-lesion event (status new, dated more
--   than var rxwbs_window_days after first_rait_date) at most var early_pd_exclusion_days (183) days
--   after the FIRST RAIT (study_date - first_rait_date <= 183). Unlike exclusion 6, a later cycle
--   does not open a new 183-day window: an event 190 days after the first RAIT and 90 days after
--   the second does not exclude at baseline. False without a RAIT or an event (never NULL).

with baseline_cutoff as (

    select * from {{ only_changed_patients(ref('int_patients__baseline_cutoff')) }}

),

new_lesion_events as (

    select * from {{ only_changed_patients(ref('int_imaging_findings__new_lesion_events')) }}

),

early_events as (

    select
        new_lesion_events.patient_id,
        min(new_lesion_events.study_date) as first_early_event_date
    from new_lesion_events
    inner join baseline_cutoff
        on new_lesion_events.patient_id = baseline_cutoff.patient_id
    where {{ days_between('baseline_cutoff.first_rait_date', 'new_lesion_events.study_date') }}
        <= {{ var('early_pd_exclusion_days') }}
    group by new_lesion_events.patient_id

),

final as (

    select
        baseline_cutoff.patient_id,
        early_events.first_early_event_date,
        early_events.patient_id is not null as early_progression_at_baseline
    from baseline_cutoff
    left join early_events
        on baseline_cutoff.patient_id = early_events.patient_id

)

select * from final
