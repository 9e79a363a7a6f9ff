-- Mart (docs/specification.md section 3, marts.analysis_cohort): one row per eligible patient
-- (marts.patients where is_eligible; exclusions stay visible as flags in marts.patients, this
-- is the only place rows are dropped) with the study variables of Tables 1-3 and the PFS
-- outcome. cumulative_gbq is the total over all of the patient's cycles.

with patients as (

    select * from {{ only_changed_patients(ref('patients')) }}

),

pfs as (

    select * from {{ only_changed_patients(ref('pfs')) }}

),

eligible_patients as (

    select * from patients
    where is_eligible

),

final as (

    select
        eligible_patients.patient_id,
        eligible_patients.rait_group,
        eligible_patients.n_rait_cycles,
        eligible_patients.sex,
        eligible_patients.age_at_diagnosis_years,
        eligible_patients.histology,
        eligible_patients.max_tumor_size_cm,
        eligible_patients.t_stage_group,
        eligible_patients.n_stage_max,
        eligible_patients.ata_risk,
        eligible_patients.local_disease_status,
        eligible_patients.metastasis_timing,
        eligible_patients.first_response,
        eligible_patients.last_response,
        eligible_patients.median_activity_gbq,
        eligible_patients.cumulative_gbq,
        pfs.pfs_months,
        pfs.pfs_event,
        pfs.follow_up_months,
        eligible_patients.center_id,
        eligible_patients.t_stage_max,
        pfs.event_type,
        pfs.start_date as pfs_start_date,
        pfs.end_date as pfs_end_date
    from eligible_patients
    left join pfs
        on eligible_patients.patient_id = pfs.patient_id

)

select * from final
