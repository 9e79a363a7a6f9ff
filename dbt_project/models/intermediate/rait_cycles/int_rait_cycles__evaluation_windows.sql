-- Rule (docs/specification.md section 2, "Progression"), one row per RAIT cycle: the cycle's evaluation
-- window is (admin_k + var rxwbs_window_days, admin_{k+1} + var rxwbs_window_days] for k < n and
-- (admin_n + var rxwbs_window_days, last_contact_date] for the last cycle (14 days by default):
-- the post-therapy scan of cycle k+1 evaluates cycle k. Windows are stored as an exclusive
-- start date and an inclusive end date. Consecutive windows of a patient tile the time after
-- first_rait_date + 14 days without gap or overlap, so every new-lesion event (dated after that
-- and not after last contact) falls in exactly one of them. A same-day second administration
-- gives an empty window.

with cycles as (

    select * from {{ only_changed_patients(ref('int_rait_cycles__numbered')) }}

),

follow_up as (

    select * from {{ only_changed_patients(ref('stg_registry__follow_up')) }}

),

final as (

    select
        cycles.patient_id,
        cycles.rait_id,
        cycles.cycle_number,
        cycles.admin_date,
        {{ add_days('cycles.admin_date', var('rxwbs_window_days')) }} as window_start_date,
        case
            when cycles.is_last_cycle then follow_up.last_contact_date
            else {{ add_days('cycles.next_admin_date', var('rxwbs_window_days')) }}
        end as window_end_date
    from cycles
    left join follow_up
        on cycles.patient_id = follow_up.patient_id

)

select * from final
