-- Rule (docs/specification.md section 2, "Eligibility at baseline"), one row per patient:
--   the baseline of the target trial is the first RAIT; what is known at baseline is every row dated
--   on or before baseline_cutoff_date = first_rait_date + var rxwbs_window_days (14) days, inclusive
--   (the first RAIT's post-therapy scan belongs to baseline, as for the new-lesion events).
--   first_rait_id = the rait_id of cycle 1. Both are NULL without a RAIT (no baseline: the
--   at-baseline criteria then read every row, like the contract's).

with key_dates as (

    select * from {{ only_changed_patients(ref('int_patients__key_dates')) }}

),

rait_summary as (

    select * from {{ only_changed_patients(ref('int_patients__rait_summary')) }}

),

final as (

    select
        key_dates.patient_id,
        key_dates.first_rait_date,
        rait_summary.first_rait_id,
        key_dates.lung_met_date,
        {{ add_days('key_dates.first_rait_date', var('rxwbs_window_days')) }} as baseline_cutoff_date
    from key_dates
    inner join rait_summary
        on key_dates.patient_id = rait_summary.patient_id

)

select * from final
