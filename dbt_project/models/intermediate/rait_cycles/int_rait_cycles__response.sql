-- Rule (docs/specification.md section 2, "Per-cycle response", CACA 2025 criteria for non-target disease),
-- one row per RAIT cycle; the first rule that holds gives response and response_basis:
--   1. PD, new_lesion            - a new-lesion event falls in the cycle's evaluation window;
--   2. CR, no_evidence_of_disease - tg_post is below var cr_tg_max (1.0 ng/mL, the ATA 2015
--                                   threshold for a stimulated Tg): an exact value < cr_tg_max, or
--                                   reported `<X` with X <= cr_tg_max (a `>X` value never is), and
--                                   scan_change is resolved or absent;
--   3. PR, tg_decline            - delta_tg >= var tg_response_threshold (0.25);
--      PR, scan_reduction        - else scan_change is reduced or resolved;
--   4. SD, no_change             - tg_post or scan_change is known;
--   5. NE, insufficient_data     - otherwise (not evaluable).
-- The rules are the macros of macros/response_rules.sql, shared with int_rait_cycles__response_at_horizon.

with cycles as (

    select * from {{ only_changed_patients(ref('int_rait_cycles__numbered')) }}

),

thyroglobulin as (

    select * from {{ only_changed_patients(ref('int_rait_cycles__thyroglobulin')) }}

),

scan_change as (

    select * from {{ only_changed_patients(ref('int_rait_cycles__scan_change')) }}

),

new_lesion_events as (

    select * from {{ only_changed_patients(ref('int_imaging_findings__new_lesion_events')) }}

),

events_per_cycle as (

    select
        rait_id,
        count(*) as n_new_lesion_events
    from new_lesion_events
    where rait_id is not null
    group by rait_id

),

evidence as (

    select
        cycles.patient_id,
        cycles.rait_id,
        cycles.cycle_number,
        cycles.n_rait_cycles,
        cycles.is_last_cycle,
        thyroglobulin.tg_post,
        thyroglobulin.tg_post_comparator,
        {{ is_tg_below_cr_max('thyroglobulin.tg_post', 'thyroglobulin.tg_post_comparator') }}
            as is_tg_post_below_cr_max,
        thyroglobulin.delta_tg,
        scan_change.scan_change,
        coalesce(events_per_cycle.n_new_lesion_events, 0) as n_new_lesion_events
    from cycles
    left join thyroglobulin
        on cycles.rait_id = thyroglobulin.rait_id
    left join scan_change
        on cycles.rait_id = scan_change.rait_id
    left join events_per_cycle
        on cycles.rait_id = events_per_cycle.rait_id

),

final as (

    select
        patient_id,
        rait_id,
        cycle_number,
        n_rait_cycles,
        is_last_cycle,
        n_new_lesion_events,
        is_tg_post_below_cr_max,
        {{ response_rule(
            'response', 'n_new_lesion_events', 'is_tg_post_below_cr_max', 'delta_tg', 'scan_change', 'tg_post'
        ) }}
            as response,
        {{ response_rule(
            'response_basis', 'n_new_lesion_events', 'is_tg_post_below_cr_max', 'delta_tg', 'scan_change', 'tg_post'
        ) }}
            as response_basis
    from evidence

)

select * from final
