-- Rule (docs/specification.md section 2, eligibility criterion 3 `avid_on_every_rxwbs`), one row per patient:
--   An RxWBS is the set of RxWBS rows sharing one rait_id (the post-therapy scan of that RAIT).
--   The criterion is judged only on the RAITs given on or after lung_met_date - var
--   rxwbs_window_days (14) days: the scan of an earlier RAIT (such as a remnant ablation before the
--   lung metastases were known) cannot show them.
--   True when at least one RAIT is judged, the earliest judged RAIT (cycle order) has an RxWBS with
--   a lung row with rai_avid true, and every RxWBS of a later judged RAIT has a lung row with
--   rai_avid true (rai_avid false or empty does not count). A later judged RAIT without any RxWBS
--   is skipped (missing data, not a failure).
--   False when lung_met_date is NULL, when no RAIT is judged, or when the earliest judged RAIT has
--   no RxWBS. Never NULL.
--   n_rait_without_rxwbs counts all of the patient's RAITs (judged or not) that have no RxWBS;
--   0 without a RAIT.

with key_dates as (

    select * from {{ only_changed_patients(ref('int_patients__key_dates')) }}

),

cycles as (

    select * from {{ only_changed_patients(ref('int_rait_cycles__numbered')) }}

),

imaging_findings as (

    select * from {{ only_changed_patients(ref('stg_registry__imaging_findings')) }}
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

cycle_scans as (

    select
        cycles.patient_id,
        cycles.rait_id,
        cycles.cycle_number,
        scans.rait_id is not null as has_rxwbs,
        coalesce(scans.has_avid_lung, false) as has_avid_lung,
        coalesce(
            cycles.admin_date >= {{ add_days('key_dates.lung_met_date', '-1 * ' ~ var('rxwbs_window_days')) }},
            false
        ) as is_judged
    from cycles
    inner join key_dates
        on cycles.patient_id = key_dates.patient_id
    left join scans
        on cycles.rait_id = scans.rait_id
        and cycles.patient_id = scans.patient_id

),

judged as (

    select
        *,
        row_number() over (partition by patient_id order by cycle_number) as judged_rank
    from cycle_scans
    where is_judged

),

per_patient_judged as (

    select
        patient_id,
        count(*) as n_judged_rait,
        max(case when judged_rank = 1 then rait_id end) as first_judged_rait_id,
        {{ any_true("judged_rank = 1 and has_rxwbs and has_avid_lung") }} as is_first_judged_scan_avid,
        sum(case when has_rxwbs then 1 else 0 end) as n_judged_rxwbs,
        sum(case when has_rxwbs and has_avid_lung then 1 else 0 end) as n_judged_rxwbs_lung_avid
    from judged
    group by patient_id

),

per_patient_all as (

    select
        patient_id,
        sum(case when has_rxwbs then 0 else 1 end) as n_rait_without_rxwbs
    from cycle_scans
    group by patient_id

),

final as (

    select
        key_dates.patient_id,
        {{ dbt.cast('coalesce(per_patient_all.n_rait_without_rxwbs, 0)', api.Column.translate_type('bigint')) }}
            as n_rait_without_rxwbs,
        coalesce(per_patient_judged.n_judged_rait, 0) as n_judged_rait,
        per_patient_judged.first_judged_rait_id,
        coalesce(per_patient_judged.n_judged_rxwbs, 0) as n_judged_rxwbs,
        coalesce(per_patient_judged.n_judged_rxwbs_lung_avid, 0) as n_judged_rxwbs_lung_avid,
        coalesce(
            per_patient_judged.is_first_judged_scan_avid
            and per_patient_judged.n_judged_rxwbs_lung_avid = per_patient_judged.n_judged_rxwbs,
            false
        ) as avid_on_every_rxwbs
    from key_dates
    left join per_patient_judged
        on key_dates.patient_id = per_patient_judged.patient_id
    left join per_patient_all
        on key_dates.patient_id = per_patient_all.patient_id

)

select * from final
