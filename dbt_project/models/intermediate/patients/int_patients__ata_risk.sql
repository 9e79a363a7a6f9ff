-- Rule (docs/specification.md section 2, "ata_risk": 2015 ATA initial risk), one row per patient, from the
-- surgeries dated diagnosis_date .. diagnosis_date + var ata_window_days (365) days, both ends
-- included; histology criteria use that surgery row's own histology:
--   high         if gross ETE, R2 resection, metastasis_timing synchronous, largest_node_cm > 3,
--                or FTC with vascular_invasion_foci > 4;
--   intermediate else, if microscopic ETE, aggressive_variant, PTC with
--                vascular_invasion_foci >= 1, or positive_nodes > 5;
--   low          else, when ete, resection and n_stage (NX is not known) are each known on some
--                of those surgeries (not necessarily the same one);
--   unknown      otherwise (also for a patient without a diagnosis_date).

with key_dates as (

    select * from {{ only_changed_patients(ref('int_patients__key_dates')) }}

),

surgeries as (

    select * from {{ only_changed_patients(ref('stg_registry__surgeries')) }}

),

metastasis_timing as (

    select * from {{ only_changed_patients(ref('int_patients__metastasis_timing')) }}

),

initial_surgeries as (

    select surgeries.*
    from surgeries
    inner join key_dates
        on surgeries.patient_id = key_dates.patient_id
        and surgeries.surgery_date >= key_dates.diagnosis_date
        and surgeries.surgery_date <= {{ add_days('key_dates.diagnosis_date', var('ata_window_days')) }}

),

surgery_criteria as (

    select
        patient_id,
        {{ any_true("ete = 'gross'
            or resection = 'R2'
            or largest_node_cm > 3
            or (histology = 'FTC' and vascular_invasion_foci > 4)") }} as has_high_risk_feature,
        {{ any_true("ete = 'microscopic'
            or aggressive_variant
            or (histology = 'PTC' and vascular_invasion_foci >= 1)
            or positive_nodes > 5") }} as has_intermediate_risk_feature,
        {{ any_true('ete is not null') }} as is_ete_known,
        {{ any_true('resection is not null') }} as is_resection_known,
        {{ any_true("n_stage in ('N0', 'N1a', 'N1b')") }} as is_n_stage_known
    from initial_surgeries
    group by patient_id

),

final as (

    select
        key_dates.patient_id,
        case
            when surgery_criteria.has_high_risk_feature
                or metastasis_timing.metastasis_timing = 'synchronous'
                then 'high'
            when surgery_criteria.has_intermediate_risk_feature
                then 'intermediate'
            when surgery_criteria.is_ete_known
                and surgery_criteria.is_resection_known
                and surgery_criteria.is_n_stage_known
                then 'low'
            else 'unknown'
        end as ata_risk
    from key_dates
    left join surgery_criteria
        on key_dates.patient_id = surgery_criteria.patient_id
    left join metastasis_timing
        on key_dates.patient_id = metastasis_timing.patient_id

)

select * from final
