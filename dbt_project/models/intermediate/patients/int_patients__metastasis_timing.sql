-- Rule (docs/specification.md section 2, "Patient characteristics"), one row per patient:
--   metastasis_timing = synchronous when lung_met_date - diagnosis_date <= var
--   synchronous_window_days (365) calendar days, else metachronous; NULL when either date is
--   NULL. A lung metastasis found before the diagnosing operation (negative difference) is
--   synchronous.

with key_dates as (

    select * from {{ only_changed_patients(ref('int_patients__key_dates')) }}

),

final as (

    select
        patient_id,
        lung_met_date,
        diagnosis_date,
        {{ days_between('diagnosis_date', 'lung_met_date') }} as days_diagnosis_to_lung_met,
        case
            when lung_met_date is null or diagnosis_date is null then null
            when {{ days_between('diagnosis_date', 'lung_met_date') }} <= {{ var('synchronous_window_days') }}
                then 'synchronous'
            else 'metachronous'
        end as metastasis_timing
    from key_dates

)

select * from final
