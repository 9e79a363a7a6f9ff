-- Invariant (docs/specification.md section 2, "Progression"): a patient's cycle windows tile the time after
-- first_rait_date + 14 days: cycle 1's window starts there, each later window starts where the
-- previous one ended, and the last one ends at last_contact_date. Together with the unique /
-- not_null tests on int_imaging_findings__new_lesion_events this makes every new-lesion event
-- fall in exactly one window. Returns offending cycles.

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
        window_start_date,
        window_end_date,
        lag(window_end_date) over (partition by patient_id order by cycle_number) as previous_window_end_date
    from rait_cycles

),

final as (

    select with_previous.*
    from with_previous
    inner join patients
        on with_previous.patient_id = patients.patient_id
    where
        (
            with_previous.cycle_number = 1
            and with_previous.window_start_date <> {{ add_days('patients.first_rait_date', var('rxwbs_window_days')) }}
        )
        or (
            with_previous.cycle_number > 1
            and with_previous.window_start_date <> with_previous.previous_window_end_date
        )
        or (
            with_previous.is_last_cycle
            and with_previous.window_end_date <> patients.last_contact_date
        )

)

select * from final
