-- Rule (docs/specification.md section 2, "Progression"), one row per new-lesion event:
--   a new-lesion event is a finding with status new (any site, any modality) dated more than
--   var rxwbs_window_days (14) days after the patient's first_rait_date; findings up to and
--   including first_rait_date + 14 days (the first RAIT's post-therapy scan) are baseline, never
--   progression. A patient without a RAIT has no events.
--   Each event is placed in the evaluation window (int_rait_cycles__evaluation_windows) that
--   contains it, giving the cycle it counts against and days_after_admin = study_date -
--   admin_k (used by the early_progression exclusion).

with key_dates as (

    select * from {{ only_changed_patients(ref('int_patients__key_dates')) }}

),

imaging_findings as (

    select * from {{ only_changed_patients(ref('stg_registry__imaging_findings')) }}

),

windows as (

    select * from {{ only_changed_patients(ref('int_rait_cycles__evaluation_windows')) }}

),

events as (

    select
        imaging_findings.finding_id,
        imaging_findings.patient_id,
        imaging_findings.study_date,
        imaging_findings.modality,
        imaging_findings.site
    from imaging_findings
    inner join key_dates
        on imaging_findings.patient_id = key_dates.patient_id
    where imaging_findings.status = 'new'
        and imaging_findings.study_date > {{ add_days('key_dates.first_rait_date', var('rxwbs_window_days')) }}

),

final as (

    select
        events.finding_id,
        events.patient_id,
        events.study_date,
        events.modality,
        events.site,
        windows.rait_id,
        windows.cycle_number,
        {{ days_between('windows.admin_date', 'events.study_date') }} as days_after_admin
    from events
    left join windows
        on events.patient_id = windows.patient_id
        and events.study_date > windows.window_start_date
        and events.study_date <= windows.window_end_date

)

select * from final
