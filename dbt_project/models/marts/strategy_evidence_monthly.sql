-- Mart (docs/specification.md section 3, marts.strategy_evidence_monthly): one row per patient with a RAIT
-- and per month since the first RAIT (month 0 to the month of the PFS end), with the evidence known
-- when the month started (the first cycle's Tg decline and scan change once dated, new lesions,
-- whether the second RAIT had been given) and what happened during it (second RAIT, progression
-- or death). It feeds the censoring model of the target-trial emulation of treatment strategies
-- (rait_registry.analysis.strategies). The rule is int_patient_months__strategy_evidence; this
-- mart publishes it. Patients are independent: every value depends on one patient's rows only.

with strategy_evidence as (

    select * from {{ only_changed_patients(ref('int_patient_months__strategy_evidence')) }}

),

final as (

    select
        patient_id,
        month_number,
        start_months,
        stop_months,
        tg_post_known,
        delta_tg,
        scan_change,
        n_new_lesions,
        second_rait_given,
        second_rait_in_month,
        pfs_event_in_month,
        is_last_month
    from strategy_evidence

)

select * from final
