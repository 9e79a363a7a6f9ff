-- Rule (docs/specification.md section 2, "Eligibility at baseline", criterion 3), one row per patient:
--   avid_on_every_rxwbs_at_baseline = criterion 3 judged on the FIRST judged RxWBS only: the earliest
--   RAIT given on or after lung_met_date - var rxwbs_window_days (first_judged_rait_id of
--   int_patients__avid_on_every_rxwbs) has an RxWBS row with site lung and rai_avid true, dated on
--   or before that RAIT's admin_date + var rxwbs_window_days (inclusive). When lung disease is on
--   record by first_rait_date + 14 days (exclusion 4 does not apply) the first judged RAIT is the
--   first RAIT, so only rows dated up to first_rait_date + 14 days count. The scans of later RAITs
--   are outcomes, not eligibility: a non-avid second RxWBS does not exclude.
--   False when lung_met_date is NULL, when no RAIT is judged, or when that RxWBS has no avid lung
--   row in its window. Never NULL.

with avid_on_every_rxwbs as (

    select * from {{ only_changed_patients(ref('int_patients__avid_on_every_rxwbs')) }}

),

cycles as (

    select * from {{ only_changed_patients(ref('int_rait_cycles__numbered')) }}

),

imaging_findings as (

    select * from {{ only_changed_patients(ref('stg_registry__imaging_findings')) }}
    where modality = 'RxWBS'

),

first_judged_scan as (

    select
        avid_on_every_rxwbs.patient_id,
        {{ any_true("imaging_findings.site = 'lung' and imaging_findings.rai_avid") }} as has_avid_lung
    from avid_on_every_rxwbs
    inner join cycles
        on avid_on_every_rxwbs.first_judged_rait_id = cycles.rait_id
        and avid_on_every_rxwbs.patient_id = cycles.patient_id
    inner join imaging_findings
        on cycles.rait_id = imaging_findings.rait_id
        and cycles.patient_id = imaging_findings.patient_id
        and imaging_findings.study_date <= {{ add_days('cycles.admin_date', var('rxwbs_window_days')) }}
    group by avid_on_every_rxwbs.patient_id

),

final as (

    select
        avid_on_every_rxwbs.patient_id,
        avid_on_every_rxwbs.first_judged_rait_id,
        coalesce(first_judged_scan.has_avid_lung, false) as avid_on_every_rxwbs_at_baseline
    from avid_on_every_rxwbs
    left join first_judged_scan
        on avid_on_every_rxwbs.patient_id = first_judged_scan.patient_id

)

select * from final
