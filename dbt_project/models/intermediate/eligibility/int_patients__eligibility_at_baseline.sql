-- Rule (docs/specification.md section 2, "Eligibility at baseline"), one row per patient: the six
-- criteria judged with what is known at the first RAIT (rows dated up to first_rait_date + var
-- rxwbs_window_days), so that later cycles cannot exclude a patient (an m-RAIT patient's second
-- scan or second 183-day window is an outcome, not an eligibility criterion):
--   1 dtc_surgery_at_baseline, 2 lung_only_micromets_at_baseline, 3 avid_on_every_rxwbs_at_baseline
--   (the first judged RxWBS only) (true = met); 4 mets_after_first_rait (the contract's flag, already
--   judged at baseline: no lung disease on record by first_rait_date + 14 days), 5
--   massive_remnant_at_baseline, 6 early_progression_at_baseline (183 days after the first RAIT
--   only) (true = excluded).
--   is_eligible_at_baseline = 1, 2, 3 true and 4, 5, 6 false; baseline_exclusion_reason = the
--   contract name of the first criterion that fails at baseline (same order and names as
--   exclusion_reason), NULL when eligible at baseline; baseline_exclusion_step = its position 1..6.

with dtc_surgery as (

    select * from {{ only_changed_patients(ref('int_patients__dtc_surgery_at_baseline')) }}

),

lung_only_micromets as (

    select * from {{ only_changed_patients(ref('int_patients__lung_only_micromets_at_baseline')) }}

),

avid_on_every_rxwbs as (

    select * from {{ only_changed_patients(ref('int_patients__avid_on_every_rxwbs_at_baseline')) }}

),

mets_after_first_rait as (

    select * from {{ only_changed_patients(ref('int_patients__mets_after_first_rait')) }}

),

massive_remnant as (

    select * from {{ only_changed_patients(ref('int_patients__massive_remnant_at_baseline')) }}

),

early_progression as (

    select * from {{ only_changed_patients(ref('int_patients__early_progression_at_baseline')) }}

),

flags as (

    select
        dtc_surgery.patient_id,
        dtc_surgery.dtc_surgery_at_baseline,
        lung_only_micromets.lung_only_micromets_at_baseline,
        avid_on_every_rxwbs.avid_on_every_rxwbs_at_baseline,
        mets_after_first_rait.mets_after_first_rait as mets_after_first_rait_at_baseline,
        massive_remnant.massive_remnant_at_baseline,
        early_progression.early_progression_at_baseline
    from dtc_surgery
    inner join lung_only_micromets
        on dtc_surgery.patient_id = lung_only_micromets.patient_id
    inner join avid_on_every_rxwbs
        on dtc_surgery.patient_id = avid_on_every_rxwbs.patient_id
    inner join mets_after_first_rait
        on dtc_surgery.patient_id = mets_after_first_rait.patient_id
    inner join massive_remnant
        on dtc_surgery.patient_id = massive_remnant.patient_id
    inner join early_progression
        on dtc_surgery.patient_id = early_progression.patient_id

),

final as (

    select
        *,
        {{ eligibility_verdict_columns(suffix='_at_baseline', prefix='baseline_') }}
    from flags

)

select * from final
