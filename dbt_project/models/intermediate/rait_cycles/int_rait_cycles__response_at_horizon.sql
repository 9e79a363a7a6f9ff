-- Rule (docs/specification.md section 2, "Response at a fixed horizon"), one row per RAIT cycle k of n:
-- response_at_horizon applies the per-cycle response rules of int_rait_cycles__response (the macros of
-- macros/response_rules.sql) to the same evidence, each piece limited to what is dated on or before
-- horizon_date = admin_k + var response_horizon_months (12 calendar months; a day missing in the
-- target month gives its last day, 31 January + 1 month = 28/29 February):
--   new lesions - the events of the cycle's evaluation window dated on or before horizon_date: the
--                 window ends at the earlier of window_end_date and horizon_date;
--   tg_post     - counts only when its sample is dated on or before horizon_date (k < n: tg_pre of
--                 cycle k+1, never another sample; k = n: the earliest Tg in [admin + tg_post_min_days,
--                 min(admin + tg_post_max_days, horizon_date)]); delta_tg is recomputed from it;
--   scan_change - counts only when its scan is dated on or before horizon_date (k < n: the RxWBS of
--                 cycle k+1; k = n: the earliest lung DxWBS in the window of tg_post).
-- An o-RAIT patient's only cycle is otherwise judged to last contact and an m-RAIT first cycle until
-- the next administration: the horizon puts both on windows of the same length.

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

horizons as (

    select
        patient_id,
        rait_id,
        cycle_number,
        n_rait_cycles,
        is_last_cycle,
        {{ add_months('admin_date', var('response_horizon_months')) }} as horizon_date
    from cycles

),

events_per_cycle as (

    select
        horizons.rait_id,
        count(*) as n_new_lesion_events
    from horizons
    inner join new_lesion_events
        on horizons.rait_id = new_lesion_events.rait_id
    where new_lesion_events.study_date <= horizons.horizon_date
    group by horizons.rait_id

),

evidence_at_horizon as (

    select
        horizons.patient_id,
        horizons.rait_id,
        horizons.cycle_number,
        horizons.n_rait_cycles,
        horizons.is_last_cycle,
        horizons.horizon_date,
        thyroglobulin.tg_pre,
        thyroglobulin.tg_pre_comparator,
        case
            when thyroglobulin.tg_post_sample_date <= horizons.horizon_date then thyroglobulin.tg_post
        end as tg_post,
        case
            when thyroglobulin.tg_post_sample_date <= horizons.horizon_date then thyroglobulin.tg_post_comparator
        end as tg_post_comparator,
        case
            when scan_change.scan_study_date <= horizons.horizon_date then scan_change.scan_change
        end as scan_change,
        coalesce(events_per_cycle.n_new_lesion_events, 0) as n_new_lesion_events
    from horizons
    left join thyroglobulin
        on horizons.rait_id = thyroglobulin.rait_id
    left join scan_change
        on horizons.rait_id = scan_change.rait_id
    left join events_per_cycle
        on horizons.rait_id = events_per_cycle.rait_id

),

rules as (

    select
        *,
        {{ tg_decline('tg_pre', 'tg_pre_comparator', 'tg_post', 'tg_post_comparator') }} as delta_tg,
        {{ is_tg_below_cr_max('tg_post', 'tg_post_comparator') }} as is_tg_post_below_cr_max
    from evidence_at_horizon

),

final as (

    select
        patient_id,
        rait_id,
        cycle_number,
        n_rait_cycles,
        is_last_cycle,
        horizon_date,
        tg_post,
        delta_tg,
        scan_change,
        n_new_lesion_events,
        {{ response_rule(
            'response', 'n_new_lesion_events', 'is_tg_post_below_cr_max', 'delta_tg', 'scan_change', 'tg_post'
        ) }} as response_at_horizon,
        {{ response_rule(
            'response_basis', 'n_new_lesion_events', 'is_tg_post_below_cr_max', 'delta_tg', 'scan_change', 'tg_post'
        ) }} as response_at_horizon_basis
    from rules

)

select * from final
