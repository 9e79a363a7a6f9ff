-- Invariant (docs/specification.md section 2, "RAIT cycles"): cumulative_gbq starts at cycle 1's activity,
-- increases strictly from cycle to cycle by that cycle's activity (activity > 0), and its last
-- value is the patient's cumulative_gbq in marts.patients. Returns offending cycles.

with rait_cycles as (

    select * from {{ ref('rait_cycles') }}

),

patients as (

    select * from {{ ref('patients') }}

),

with_previous as (

    select
        patient_id,
        rait_id,
        cycle_number,
        is_last_cycle,
        activity_gbq,
        cumulative_gbq,
        lag(cumulative_gbq) over (partition by patient_id order by cycle_number) as previous_cumulative_gbq
    from rait_cycles

),

final as (

    select
        with_previous.*,
        patients.cumulative_gbq as patient_cumulative_gbq
    from with_previous
    inner join patients
        on with_previous.patient_id = patients.patient_id
    where
        (
            with_previous.cycle_number = 1
            and abs(with_previous.cumulative_gbq - with_previous.activity_gbq) > 1e-9
        )
        or (
            with_previous.cycle_number > 1
            and (
                with_previous.cumulative_gbq <= with_previous.previous_cumulative_gbq
                or abs(
                    with_previous.cumulative_gbq - with_previous.previous_cumulative_gbq - with_previous.activity_gbq
                ) > 1e-9
            )
        )
        or (
            with_previous.is_last_cycle
            and with_previous.cumulative_gbq <> patients.cumulative_gbq
        )

)

select * from final
