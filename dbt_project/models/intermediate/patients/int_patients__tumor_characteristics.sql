-- Rule (docs/specification.md section 2, "Patient characteristics"), one row per patient:
--   age_at_diagnosis_years = (diagnosis_date - birth_date) in calendar days / 365.25, unrounded;
--   histology              = histology of the earliest surgery that has one; on a same-date tie
--                            the surgery with the smallest surgery_id (byte order) wins;
--   max_tumor_size_cm      = maximum max_tumor_size_cm over the surgeries whose histology is
--                            PTC, FTC or other (sizes on surgeries without carcinoma are ignored).

with key_dates as (

    select * from {{ only_changed_patients(ref('int_patients__key_dates')) }}

),

surgeries as (

    select * from {{ only_changed_patients(ref('stg_registry__surgeries')) }}

),

surgeries_with_histology as (

    select
        patient_id,
        histology,
        max_tumor_size_cm,
        row_number() over (
            partition by patient_id
            order by surgery_date, {{ byte_order('surgery_id') }}
        ) as histology_rank
    from surgeries
    where histology in {{ sql_list(carcinoma_histologies()) }}

),

first_histology as (

    select
        patient_id,
        histology
    from surgeries_with_histology
    where histology_rank = 1

),

tumor_size as (

    select
        patient_id,
        max(max_tumor_size_cm) as max_tumor_size_cm
    from surgeries_with_histology
    group by patient_id

),

final as (

    select
        key_dates.patient_id,
        {{ days_to_years(days_between('key_dates.birth_date', 'key_dates.diagnosis_date')) }} as age_at_diagnosis_years,
        first_histology.histology,
        tumor_size.max_tumor_size_cm
    from key_dates
    left join first_histology
        on key_dates.patient_id = first_histology.patient_id
    left join tumor_size
        on key_dates.patient_id = tumor_size.patient_id

)

select * from final
