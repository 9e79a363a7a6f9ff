-- Rule (docs/specification.md section 2, eligibility exclusion 5 `massive_remnant`), one row per patient:
--   true (excluded) when the RxWBS of the first RAIT (cycle 1: earliest admin_date, smallest
--   rait_id on a same-day tie) has a row with remnant_uptake massive; false without a RAIT, without
--   that scan or without a massive remnant (never NULL).

with rait_summary as (

    select * from {{ only_changed_patients(ref('int_patients__rait_summary')) }}

),

imaging_findings as (

    select * from {{ only_changed_patients(ref('stg_registry__imaging_findings')) }}
    where modality = 'RxWBS'

),

first_rxwbs as (

    select
        rait_summary.patient_id,
        {{ any_true("imaging_findings.remnant_uptake = 'massive'") }} as has_massive_remnant
    from rait_summary
    inner join imaging_findings
        on rait_summary.first_rait_id = imaging_findings.rait_id
        and rait_summary.patient_id = imaging_findings.patient_id
    group by rait_summary.patient_id

),

final as (

    select
        rait_summary.patient_id,
        coalesce(first_rxwbs.has_massive_remnant, false) as massive_remnant
    from rait_summary
    left join first_rxwbs
        on rait_summary.patient_id = first_rxwbs.patient_id

)

select * from final
