-- Rule (docs/specification.md section 2, "Eligibility at baseline", criterion 2), one row per patient:
--   lung_only_micromets_at_baseline = criterion 2 (lung_only_micromets) with its baseline period
--   ending at baseline_cutoff_date (first_rait_date + var rxwbs_window_days, inclusive) instead of
--   the later of lung_met_date and first_rait_date + 14 days: lung disease documented
--   (lung_met_date known), and among the studies dated on or before the cut-off no disease at bone,
--   brain, liver or other and every lung max_lesion_mm < var micromet_max_mm (an empty size passes).
--   The two periods differ only when the lung metastases were first seen within 14 days after the
--   first RAIT; lung metastases first seen later are exclusion 4, which is already judged at
--   baseline. Without a RAIT the period ends at lung_met_date + 14 days, as in criterion 2.
--   Never NULL.

with baseline_cutoff as (

    select * from {{ only_changed_patients(ref('int_patients__baseline_cutoff')) }}

),

imaging_findings as (

    select * from {{ only_changed_patients(ref('stg_registry__imaging_findings')) }}

),

baseline as (

    select
        patient_id,
        lung_met_date,
        coalesce(baseline_cutoff_date, {{ add_days('lung_met_date', var('rxwbs_window_days')) }}) as baseline_end_date
    from baseline_cutoff

),

baseline_findings as (

    select
        baseline.patient_id,
        {{ any_true("imaging_findings.site in ('bone', 'brain', 'liver', 'other')
            and imaging_findings.status in " ~ sql_list(disease_statuses())) }} as has_distant_non_lung_disease,
        {{ any_true("imaging_findings.site = 'lung'
            and imaging_findings.max_lesion_mm >= " ~ var('micromet_max_mm')) }} as has_lung_macrometastasis
    from baseline
    inner join imaging_findings
        on baseline.patient_id = imaging_findings.patient_id
        and imaging_findings.study_date <= baseline.baseline_end_date
    group by baseline.patient_id

),

final as (

    select
        baseline.patient_id,
        baseline.baseline_end_date,
        (
            baseline.lung_met_date is not null
            and not coalesce(baseline_findings.has_distant_non_lung_disease, false)
            and not coalesce(baseline_findings.has_lung_macrometastasis, false)
        ) as lung_only_micromets_at_baseline
    from baseline
    left join baseline_findings
        on baseline.patient_id = baseline_findings.patient_id

)

select * from final
