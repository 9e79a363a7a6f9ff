-- Mart (docs/specification.md section 3, marts.patients): one row per patient of the extract with every
-- characteristic of docs/specification.md section 2, the RAIT summary, first/last response, every
-- eligibility column, is_eligible, exclusion_reason and n_rait_without_rxwbs; beside them the same criteria
-- judged at baseline (is_eligible_at_baseline, baseline_exclusion_reason: int_patients__eligibility_at_baseline).
-- Each value is derived by one intermediate model (see their headers); this mart only joins them on patient_id.

with patients as (

    select * from {{ only_changed_patients(ref('stg_registry__patients')) }}

),

key_dates as (

    select * from {{ only_changed_patients(ref('int_patients__key_dates')) }}

),

tumor_characteristics as (

    select * from {{ only_changed_patients(ref('int_patients__tumor_characteristics')) }}

),

tnm_stage as (

    select * from {{ only_changed_patients(ref('int_patients__tnm_stage')) }}

),

metastasis_timing as (

    select * from {{ only_changed_patients(ref('int_patients__metastasis_timing')) }}

),

local_disease_status as (

    select * from {{ only_changed_patients(ref('int_patients__local_disease_status')) }}

),

ata_risk as (

    select * from {{ only_changed_patients(ref('int_patients__ata_risk')) }}

),

rait_summary as (

    select * from {{ only_changed_patients(ref('int_patients__rait_summary')) }}

),

response_summary as (

    select * from {{ only_changed_patients(ref('int_patients__response_summary')) }}

),

pfs as (

    select * from {{ only_changed_patients(ref('int_patients__pfs')) }}

),

eligibility as (

    select * from {{ only_changed_patients(ref('int_patients__eligibility')) }}

),

eligibility_at_baseline as (

    select * from {{ only_changed_patients(ref('int_patients__eligibility_at_baseline')) }}

),

avid_on_every_rxwbs as (

    select * from {{ only_changed_patients(ref('int_patients__avid_on_every_rxwbs')) }}

),

centre as (

    select * from {{ only_changed_patients(ref('int_patients__centre')) }}

),

final as (

    select
        patients.patient_id,
        patients.sex,
        patients.birth_date,
        centre.center_id,
        key_dates.diagnosis_date,
        key_dates.initial_surgery_date,
        key_dates.first_rait_date,
        key_dates.lung_met_date,
        pfs.pd_date,
        key_dates.last_contact_date,
        key_dates.vital_status,
        key_dates.death_date,
        tumor_characteristics.age_at_diagnosis_years,
        tumor_characteristics.histology,
        tumor_characteristics.max_tumor_size_cm,
        tnm_stage.t_stage_max,
        tnm_stage.n_stage_max,
        tnm_stage.t_stage_group,
        metastasis_timing.metastasis_timing,
        local_disease_status.local_disease_status,
        ata_risk.ata_risk,
        rait_summary.n_rait_cycles,
        rait_summary.rait_group,
        rait_summary.median_activity_gbq,
        rait_summary.cumulative_gbq,
        response_summary.first_response,
        response_summary.last_response,
        eligibility.dtc_surgery,
        eligibility.lung_only_micromets,
        eligibility.avid_on_every_rxwbs,
        eligibility.mets_after_first_rait,
        eligibility.massive_remnant,
        eligibility.early_progression,
        eligibility.is_eligible,
        eligibility.exclusion_reason,
        avid_on_every_rxwbs.n_rait_without_rxwbs,
        eligibility.exclusion_step,
        eligibility_at_baseline.is_eligible_at_baseline,
        eligibility_at_baseline.baseline_exclusion_reason
    from patients
    inner join key_dates
        on patients.patient_id = key_dates.patient_id
    inner join tumor_characteristics
        on patients.patient_id = tumor_characteristics.patient_id
    inner join tnm_stage
        on patients.patient_id = tnm_stage.patient_id
    inner join metastasis_timing
        on patients.patient_id = metastasis_timing.patient_id
    inner join local_disease_status
        on patients.patient_id = local_disease_status.patient_id
    inner join ata_risk
        on patients.patient_id = ata_risk.patient_id
    inner join rait_summary
        on patients.patient_id = rait_summary.patient_id
    inner join eligibility
        on patients.patient_id = eligibility.patient_id
    inner join eligibility_at_baseline
        on patients.patient_id = eligibility_at_baseline.patient_id
    inner join avid_on_every_rxwbs
        on patients.patient_id = avid_on_every_rxwbs.patient_id
    inner join centre
        on patients.patient_id = centre.patient_id
    left join response_summary
        on patients.patient_id = response_summary.patient_id
    left join pfs
        on patients.patient_id = pfs.patient_id

)

select * from final
