-- Rule (docs/specification.md section 2, "PFS": censoring at the last disease assessment), one row per patient
-- with a RAIT:
--   last_assessment_date = the latest study_date of any imaging finding (any modality, site or
--   status) dated in [first_rait_date, last_contact_date], both ends included; first_rait_date
--   when there is none (a patient never assessed after the first RAIT is censored at the start:
--   PFS 0 months). A contact without imaging is not a disease assessment: censoring at the last
--   contact would credit progression-free months that nobody looked at.

with key_dates as (

    select * from {{ only_changed_patients(ref('int_patients__key_dates')) }}
    where first_rait_date is not null

),

imaging_findings as (

    select * from {{ only_changed_patients(ref('stg_registry__imaging_findings')) }}

),

assessments as (

    select
        key_dates.patient_id,
        max(imaging_findings.study_date) as last_imaging_date
    from key_dates
    inner join imaging_findings
        on key_dates.patient_id = imaging_findings.patient_id
        and imaging_findings.study_date >= key_dates.first_rait_date
        and imaging_findings.study_date <= key_dates.last_contact_date
    group by key_dates.patient_id

),

final as (

    select
        key_dates.patient_id,
        key_dates.first_rait_date,
        key_dates.last_contact_date,
        assessments.last_imaging_date,
        coalesce(assessments.last_imaging_date, key_dates.first_rait_date) as last_assessment_date
    from key_dates
    left join assessments
        on key_dates.patient_id = assessments.patient_id

)

select * from final
