-- Rule (docs/specification.md section 2, eligibility exclusion 4 `mets_after_first_rait`), one row per
-- patient: true (excluded) when lung_met_date > first_rait_date + var rxwbs_window_days (14)
-- days; false when either date is missing (never NULL).

with key_dates as (

    select * from {{ only_changed_patients(ref('int_patients__key_dates')) }}

),

final as (

    select
        patient_id,
        coalesce(
            lung_met_date > {{ add_days('first_rait_date', var('rxwbs_window_days')) }},
            false
        ) as mets_after_first_rait
    from key_dates

)

select * from final
