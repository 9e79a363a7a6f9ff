-- Mart (docs/specification.md section 3, marts.rait_cycles): one row per RAIT administration with its cycle
-- number, activity, cumulative activity, interval, Tg before/after, delta Tg, lung scan change
-- and response with its basis, and the response on the evidence up to a fixed horizon. Rules:
-- int_rait_cycles__numbered, __thyroglobulin, __scan_change, __evaluation_windows, __response and
-- __response_at_horizon; this mart only joins them on rait_id.

with cycles as (

    select * from {{ only_changed_patients(ref('int_rait_cycles__numbered')) }}

),

thyroglobulin as (

    select * from {{ only_changed_patients(ref('int_rait_cycles__thyroglobulin')) }}

),

scan_change as (

    select * from {{ only_changed_patients(ref('int_rait_cycles__scan_change')) }}

),

windows as (

    select * from {{ only_changed_patients(ref('int_rait_cycles__evaluation_windows')) }}

),

responses as (

    select * from {{ only_changed_patients(ref('int_rait_cycles__response')) }}

),

responses_at_horizon as (

    select * from {{ only_changed_patients(ref('int_rait_cycles__response_at_horizon')) }}

),

final as (

    select
        cycles.patient_id,
        cycles.rait_id,
        cycles.cycle_number,
        cycles.admin_date,
        cycles.activity_gbq,
        cycles.cumulative_gbq,
        cycles.days_since_previous,
        thyroglobulin.tg_pre,
        thyroglobulin.tg_post,
        thyroglobulin.delta_tg,
        scan_change.scan_change,
        responses.response,
        responses.response_basis,
        cycles.n_rait_cycles,
        cycles.is_last_cycle,
        cycles.preparation,
        cycles.intent,
        thyroglobulin.tg_pre_comparator,
        thyroglobulin.tg_pre_lab_id,
        thyroglobulin.tg_post_comparator,
        thyroglobulin.tg_post_lab_id,
        scan_change.scan_finding_id,
        windows.window_start_date,
        windows.window_end_date,
        responses.n_new_lesion_events,
        responses_at_horizon.response_at_horizon
    from cycles
    inner join thyroglobulin
        on cycles.rait_id = thyroglobulin.rait_id
    inner join scan_change
        on cycles.rait_id = scan_change.rait_id
    inner join windows
        on cycles.rait_id = windows.rait_id
    inner join responses
        on cycles.rait_id = responses.rait_id
    inner join responses_at_horizon
        on cycles.rait_id = responses_at_horizon.rait_id

)

select * from final
