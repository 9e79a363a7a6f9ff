-- Rule (docs/specification.md section 2, "RAIT cycles"), one row per patient:
--   n_rait_cycles = number of administrations (0 without a RAIT);
--   rait_group = o-RAIT when n = 1, m-RAIT when n >= 2, NULL when n = 0;
--   median_activity_gbq = ordinary median of activity_gbq over the patient's cycles (the mean of
--   the two middle values for an even count); cumulative_gbq = total activity over all cycles
--   (the last cycle's running total, so it equals marts.rait_cycles exactly);
--   first_rait_id = the rait_id of cycle 1 (for the massive_remnant rule).

with patients as (

    select * from {{ only_changed_patients(ref('stg_registry__patients')) }}

),

cycles as (

    select * from {{ only_changed_patients(ref('int_rait_cycles__numbered')) }}

),

per_patient as (

    select
        patient_id,
        count(*) as n_rait_cycles,
        {{ median('activity_gbq') }} as median_activity_gbq,
        max(case when is_last_cycle then cumulative_gbq end) as cumulative_gbq,
        max(case when cycle_number = 1 then rait_id end) as first_rait_id
    from cycles
    group by patient_id

),

final as (

    select
        patients.patient_id,
        coalesce(per_patient.n_rait_cycles, 0) as n_rait_cycles,
        case
            when per_patient.n_rait_cycles = 1 then 'o-RAIT'
            when per_patient.n_rait_cycles >= 2 then 'm-RAIT'
        end as rait_group,
        per_patient.median_activity_gbq,
        per_patient.cumulative_gbq,
        per_patient.first_rait_id
    from patients
    left join per_patient
        on patients.patient_id = per_patient.patient_id

)

select * from final
