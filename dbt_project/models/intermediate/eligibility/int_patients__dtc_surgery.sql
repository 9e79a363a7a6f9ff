-- Rule (docs/specification.md section 2, eligibility criterion 1 `dtc_surgery`), one row per patient:
--   true when the patient has a total, subtotal or completion thyroidectomy dated within
--   var surgery_date_min .. var surgery_date_max (2000-01-01 .. 2022-12-31, both included) AND
--   some surgery (any date, any procedure) with histology PTC or FTC. A lobectomy alone does
--   not qualify; a lobectomy followed by a completion thyroidectomy in the window does.
--   Never NULL (missing evidence is false).

with patients as (

    select * from {{ only_changed_patients(ref('stg_registry__patients')) }}

),

surgeries as (

    select * from {{ only_changed_patients(ref('stg_registry__surgeries')) }}

),

per_patient as (

    select
        patient_id,
        {{ any_true("procedure in " ~ sql_list(thyroidectomy_procedures()) ~ "
            and surgery_date >= " ~ date_var('surgery_date_min') ~ "
            and surgery_date <= " ~ date_var('surgery_date_max')) }} as has_thyroidectomy_in_period,
        {{ any_true("histology in ('PTC', 'FTC')") }} as has_dtc_histology
    from surgeries
    group by patient_id

),

final as (

    select
        patients.patient_id,
        coalesce(per_patient.has_thyroidectomy_in_period, false) as has_thyroidectomy_in_period,
        coalesce(per_patient.has_dtc_histology, false) as has_dtc_histology,
        coalesce(per_patient.has_thyroidectomy_in_period and per_patient.has_dtc_histology, false) as dtc_surgery
    from patients
    left join per_patient
        on patients.patient_id = per_patient.patient_id

)

select * from final
