-- Rule (docs/specification.md section 2, "scan_change"), one row per RAIT cycle k of n:
--   k < n: the status of the lung finding on the RxWBS linked to cycle k+1 (imaging rows with
--          modality RxWBS and rait_id = cycle k+1's rait_id), the smallest finding_id (byte
--          order) when there are several; NULL when that scan has no lung row or is missing
--          (never another scan);
--   k = n: the status of the earliest lung DxWBS finding in
--          [admin_n + var tg_post_min_days, admin_n + var tg_post_max_days] (90..730 days, both
--          ends included); same-date ties: smallest finding_id.

with cycles as (

    select * from {{ only_changed_patients(ref('int_rait_cycles__numbered')) }}

),

imaging_findings as (

    select * from {{ only_changed_patients(ref('stg_registry__imaging_findings')) }}
    where site = 'lung'

),

next_rxwbs_candidates as (

    select
        cycles.rait_id,
        imaging_findings.finding_id,
        imaging_findings.study_date,
        imaging_findings.status,
        row_number() over (
            partition by cycles.rait_id
            order by {{ byte_order('imaging_findings.finding_id') }}
        ) as candidate_rank
    from cycles
    inner join imaging_findings
        on cycles.next_rait_id = imaging_findings.rait_id
        and cycles.patient_id = imaging_findings.patient_id
    where imaging_findings.modality = 'RxWBS'

),

last_cycle_dxwbs_candidates as (

    select
        cycles.rait_id,
        imaging_findings.finding_id,
        imaging_findings.study_date,
        imaging_findings.status,
        row_number() over (
            partition by cycles.rait_id
            order by imaging_findings.study_date, {{ byte_order('imaging_findings.finding_id') }}
        ) as candidate_rank
    from cycles
    inner join imaging_findings
        on cycles.patient_id = imaging_findings.patient_id
        and imaging_findings.study_date >= {{ add_days('cycles.admin_date', var('tg_post_min_days')) }}
        and imaging_findings.study_date <= {{ add_days('cycles.admin_date', var('tg_post_max_days')) }}
    where cycles.is_last_cycle
        and imaging_findings.modality = 'DxWBS'

),

scans as (

    select
        rait_id,
        finding_id,
        study_date,
        status
    from next_rxwbs_candidates
    where candidate_rank = 1

    union all

    select
        rait_id,
        finding_id,
        study_date,
        status
    from last_cycle_dxwbs_candidates
    where candidate_rank = 1

),

final as (

    select
        cycles.patient_id,
        cycles.rait_id,
        cycles.cycle_number,
        scans.status as scan_change,
        scans.finding_id as scan_finding_id,
        scans.study_date as scan_study_date
    from cycles
    left join scans
        on cycles.rait_id = scans.rait_id

)

select * from final
