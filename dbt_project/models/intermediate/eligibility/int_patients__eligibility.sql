-- Rule (docs/specification.md section 2, "Eligibility"), one row per patient: the six criteria in contract
-- order, each evaluated for every patient whatever step failed first, never NULL:
--   1 dtc_surgery, 2 lung_only_micromets, 3 avid_on_every_rxwbs (true = criterion met);
--   4 mets_after_first_rait, 5 massive_remnant, 6 early_progression (true = exclusion applies).
--   is_eligible = 1, 2, 3 true and 4, 5, 6 false;
--   exclusion_reason = the column name of the first criterion that fails, NULL when eligible.
--   exclusion_step = its position 1..6 (NULL when eligible), for the attrition table.

with dtc_surgery as (

    select * from {{ only_changed_patients(ref('int_patients__dtc_surgery')) }}

),

lung_only_micromets as (

    select * from {{ only_changed_patients(ref('int_patients__lung_only_micromets')) }}

),

avid_on_every_rxwbs as (

    select * from {{ only_changed_patients(ref('int_patients__avid_on_every_rxwbs')) }}

),

mets_after_first_rait as (

    select * from {{ only_changed_patients(ref('int_patients__mets_after_first_rait')) }}

),

massive_remnant as (

    select * from {{ only_changed_patients(ref('int_patients__massive_remnant')) }}

),

early_progression as (

    select * from {{ only_changed_patients(ref('int_patients__early_progression')) }}

),

flags as (

    select
        dtc_surgery.patient_id,
        dtc_surgery.dtc_surgery,
        lung_only_micromets.lung_only_micromets,
        avid_on_every_rxwbs.avid_on_every_rxwbs,
        mets_after_first_rait.mets_after_first_rait,
        massive_remnant.massive_remnant,
        early_progression.early_progression
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
        {{ eligibility_verdict_columns() }}
    from flags

)

select * from final
