-- Rule (docs/specification.md section 2, eligibility criterion 2 `lung_only_micromets`), one row per patient:
--   true when lung disease is documented (lung_met_date known) and, in the baseline period
--   (every study dated up to baseline_end_date = the later of lung_met_date and first_rait_date,
--   lung_met_date alone when there is no RAIT, plus var rxwbs_window_days (14) days, inclusive):
--     - there is no disease (status new, present, stable, increased, reduced) at bone, brain,
--       liver or other, and
--     - every lung max_lesion_mm recorded is < var micromet_max_mm (10); an empty size is a
--       non-measurable micrometastasis and passes.
--   Later growth is an outcome, not an exclusion. Never NULL.
-- Reading: "every lung max_lesion_mm recorded" takes every lung row with a size, whatever its
-- status; the baseline period has no start (disease found before diagnosis counts).

with key_dates as (

    select * from {{ only_changed_patients(ref('int_patients__key_dates')) }}

),

imaging_findings as (

    select * from {{ only_changed_patients(ref('stg_registry__imaging_findings')) }}

),

baseline as (

    select
        patient_id,
        lung_met_date,
        first_rait_date,
        {{ add_days(
            "case
                when lung_met_date is null then null
                when first_rait_date is null or lung_met_date >= first_rait_date then lung_met_date
                else first_rait_date
            end",
            var('rxwbs_window_days')) }} as baseline_end_date
    from key_dates

),

baseline_findings as (

    select
        baseline.patient_id,
        {{ any_true("imaging_findings.site in ('bone', 'brain', 'liver', 'other')
            and imaging_findings.status in " ~ sql_list(disease_statuses())) }} as has_distant_non_lung_disease,
        {{ any_true("imaging_findings.site = 'lung'
            and imaging_findings.max_lesion_mm >= " ~ var('micromet_max_mm')) }} as has_lung_macrometastasis,
        max(case when imaging_findings.site = 'lung' then imaging_findings.max_lesion_mm end)
            as max_baseline_lung_lesion_mm
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
        coalesce(baseline_findings.has_distant_non_lung_disease, false) as has_distant_non_lung_disease,
        coalesce(baseline_findings.has_lung_macrometastasis, false) as has_lung_macrometastasis,
        baseline_findings.max_baseline_lung_lesion_mm,
        (
            baseline.lung_met_date is not null
            and not coalesce(baseline_findings.has_distant_non_lung_disease, false)
            and not coalesce(baseline_findings.has_lung_macrometastasis, false)
        ) as lung_only_micromets
    from baseline
    left join baseline_findings
        on baseline.patient_id = baseline_findings.patient_id

)

select * from final
