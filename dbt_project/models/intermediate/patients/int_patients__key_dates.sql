-- Rule (docs/specification.md section 2, "Patient dates"), one row per patient:
--   diagnosis_date       = earliest surgery whose histology is PTC, FTC or other;
--   initial_surgery_date = earliest surgery with procedure total_thyroidectomy,
--                          subtotal_thyroidectomy or lobectomy (a completion thyroidectomy is
--                          never the initial operation);
--   first_rait_date      = earliest RAIT admin_date;
--   lung_met_date        = earliest study_date of a lung finding with disease
--                          (status new, present, stable, increased or reduced; any modality).
-- The follow-up dates are carried along (death counts only when vital_status is dead).
-- Each date is NULL when no row qualifies.

with patients as (

    select * from {{ only_changed_patients(ref('stg_registry__patients')) }}

),

surgeries as (

    select * from {{ only_changed_patients(ref('stg_registry__surgeries')) }}

),

rait_administrations as (

    select * from {{ only_changed_patients(ref('stg_registry__rait_administrations')) }}

),

imaging_findings as (

    select * from {{ only_changed_patients(ref('stg_registry__imaging_findings')) }}

),

follow_up as (

    select * from {{ only_changed_patients(ref('stg_registry__follow_up')) }}

),

surgery_dates as (

    select
        patient_id,
        min(case when histology in {{ sql_list(carcinoma_histologies()) }} then surgery_date end) as diagnosis_date,
        min(case when procedure in {{ sql_list(initial_surgery_procedures()) }} then surgery_date end)
            as initial_surgery_date
    from surgeries
    group by patient_id

),

rait_dates as (

    select
        patient_id,
        min(admin_date) as first_rait_date
    from rait_administrations
    group by patient_id

),

lung_dates as (

    select
        patient_id,
        min(study_date) as lung_met_date
    from imaging_findings
    where site = 'lung'
        and status in {{ sql_list(disease_statuses()) }}
    group by patient_id

),

final as (

    select
        patients.patient_id,
        patients.birth_date,
        surgery_dates.diagnosis_date,
        surgery_dates.initial_surgery_date,
        rait_dates.first_rait_date,
        lung_dates.lung_met_date,
        follow_up.last_contact_date,
        follow_up.vital_status,
        case when follow_up.vital_status = 'dead' then follow_up.death_date end as death_date
    from patients
    left join surgery_dates
        on patients.patient_id = surgery_dates.patient_id
    left join rait_dates
        on patients.patient_id = rait_dates.patient_id
    left join lung_dates
        on patients.patient_id = lung_dates.patient_id
    left join follow_up
        on patients.patient_id = follow_up.patient_id

)

select * from final
