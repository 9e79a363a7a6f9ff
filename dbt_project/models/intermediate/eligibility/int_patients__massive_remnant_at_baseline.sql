-- Rule (docs/specification.md section 2, "Eligibility at baseline", exclusion 5), one row per patient:
--   massive_remnant_at_baseline (true = excluded) = exclusion 5 on the rows of the first RAIT's
--   RxWBS dated on or before baseline_cutoff_date (first_rait_date + var rxwbs_window_days,
--   inclusive): some row has remnant_uptake massive. A massive remnant on a first-RAIT scan row
--   dated after the cut-off is not known at baseline. False without a RAIT (never NULL).

with baseline_cutoff as (

    select * from {{ only_changed_patients(ref('int_patients__baseline_cutoff')) }}

),

imaging_findings as (

    select * from {{ only_changed_patients(ref('stg_registry__imaging_findings')) }}
    where modality = 'RxWBS'

),

first_rxwbs as (

    select
        baseline_cutoff.patient_id,
        {{ any_true("imaging_findings.remnant_uptake = 'massive'") }} as has_massive_remnant
    from baseline_cutoff
    inner join imaging_findings
        on baseline_cutoff.first_rait_id = imaging_findings.rait_id
        and baseline_cutoff.patient_id = imaging_findings.patient_id
        and imaging_findings.study_date <= baseline_cutoff.baseline_cutoff_date
    group by baseline_cutoff.patient_id

),

final as (

    select
        baseline_cutoff.patient_id,
        coalesce(first_rxwbs.has_massive_remnant, false) as massive_remnant_at_baseline
    from baseline_cutoff
    left join first_rxwbs
        on baseline_cutoff.patient_id = first_rxwbs.patient_id

)

select * from final
