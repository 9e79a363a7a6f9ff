-- Rule (docs/specification.md section 2, "RAIT cycles"), one row per RAIT administration:
--   a patient's administrations ordered by admin_date (same-date ties: smallest rait_id in byte
--   order first) are cycles 1..n; cumulative_gbq = running total of activity_gbq up to and
--   including the cycle; days_since_previous = admin_date - previous cycle's admin_date (NULL for
--   cycle 1; 0 for a same-day second administration); n_rait_cycles = n.
-- The next cycle's rait_id and admin_date are carried for the rules that look one cycle ahead
-- (tg_post, scan_change, cycle windows); both are NULL on the last cycle.

with rait_administrations as (

    select * from {{ only_changed_patients(ref('stg_registry__rait_administrations')) }}

),

ordered as (

    select
        patient_id,
        rait_id,
        admin_date,
        activity_gbq,
        preparation,
        intent,
        row_number() over (
            partition by patient_id
            order by admin_date, {{ byte_order('rait_id') }}
        ) as cycle_number,
        count(*) over (partition by patient_id) as n_rait_cycles
    from rait_administrations

),

final as (

    select
        patient_id,
        rait_id,
        cycle_number,
        n_rait_cycles,
        cycle_number = n_rait_cycles as is_last_cycle,
        admin_date,
        activity_gbq,
        sum(activity_gbq) over (
            partition by patient_id
            order by cycle_number
            rows between unbounded preceding and current row
        ) as cumulative_gbq,
        {{ days_between('lag(admin_date) over (partition by patient_id order by cycle_number)', 'admin_date') }}
            as days_since_previous,
        lead(rait_id) over (partition by patient_id order by cycle_number) as next_rait_id,
        lead(admin_date) over (partition by patient_id order by cycle_number) as next_admin_date,
        preparation,
        intent
    from ordered

)

select * from final
