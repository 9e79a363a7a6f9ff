-- Rule (docs/specification.md section 2, eligibility criterion 3 `avid_on_every_rxwbs`), one row per patient:
--   an RxWBS is the set of RxWBS rows sharing one rait_id; true when the patient has at least
--   one RxWBS and every one of them has a lung row with rai_avid true (rai_avid false or empty
--   does not count). Never NULL.
-- Reading: a cycle without any RxWBS row is not an RxWBS and does not fail the criterion; a
-- patient with no RxWBS at all fails it.

with patients as (

    select * from {{ ref('stg_registry__patients') }}

),

imaging_findings as (

    select * from {{ ref('stg_registry__imaging_findings') }}
    where modality = 'RxWBS'

),

scans as (

    select
        patient_id,
        rait_id,
        {{ any_true("site = 'lung' and rai_avid") }} as has_avid_lung
    from imaging_findings
    group by patient_id, rait_id

),

per_patient as (

    select
        patient_id,
        count(*) as n_rxwbs,
        sum(case when has_avid_lung then 1 else 0 end) as n_rxwbs_lung_avid
    from scans
    group by patient_id

),

final as (

    select
        patients.patient_id,
        coalesce(per_patient.n_rxwbs, 0) as n_rxwbs,
        coalesce(per_patient.n_rxwbs_lung_avid, 0) as n_rxwbs_lung_avid,
        coalesce(per_patient.n_rxwbs >= 1 and per_patient.n_rxwbs_lung_avid = per_patient.n_rxwbs, false)
            as avid_on_every_rxwbs
    from patients
    left join per_patient
        on patients.patient_id = per_patient.patient_id

)

select * from final
