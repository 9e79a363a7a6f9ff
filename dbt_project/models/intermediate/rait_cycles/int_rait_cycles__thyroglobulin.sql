-- Rule (docs/specification.md section 2, "Thyroglobulin" and "Comparator values"), one row per RAIT cycle k
-- of n, using only Tg results that are stimulated and interpretable (int_lab_results__tg_classified):
--   tg_pre   = the latest such Tg in [admin_k - var tg_pre_window_days, admin_k] (30 days, both
--              ends included); same-date ties: smallest lab_id (byte order);
--   tg_post  = for k < n, tg_pre of cycle k+1 (never another sample: NULL when cycle k+1 has no
--              tg_pre); for k = n, the earliest such Tg in
--              [admin_n + var tg_post_min_days, admin_n + var tg_post_max_days] (90..730 days,
--              both ends included); same-date ties: smallest lab_id;
--   delta_tg = (tg_pre - tg_post) / tg_pre when both exist, tg_pre > 0, tg_pre is an exact value
--              and tg_post is not reported `>`; a `<X` tg_post (below detection) with an exact
--              tg_pre uses X. delta_tg is NULL when tg_pre is reported `<` (no decline can be
--              measured from below detection) or either value is reported `>` (above range).
-- Each value keeps its comparator (`<`, `>`, NULL for an exact value): marts.rait_cycles publishes
-- them, and tg_post's is read by the CR criterion (int_rait_cycles__response).

with cycles as (

    select * from {{ only_changed_patients(ref('int_rait_cycles__numbered')) }}

),

tg_results as (

    select * from {{ only_changed_patients(ref('int_lab_results__tg_classified')) }}
    where is_stimulated and is_interpretable

),

pre_candidates as (

    select
        cycles.rait_id,
        tg_results.lab_id,
        tg_results.sample_date,
        tg_results.tg_ng_ml,
        tg_results.tg_comparator,
        row_number() over (
            partition by cycles.rait_id
            order by tg_results.sample_date desc, {{ byte_order('tg_results.lab_id') }}
        ) as candidate_rank
    from cycles
    inner join tg_results
        on cycles.patient_id = tg_results.patient_id
        and tg_results.sample_date >= {{ add_days('cycles.admin_date', '-1 * ' ~ var('tg_pre_window_days')) }}
        and tg_results.sample_date <= cycles.admin_date

),

tg_pre as (

    select * from pre_candidates
    where candidate_rank = 1

),

last_cycle_post_candidates as (

    select
        cycles.rait_id,
        tg_results.lab_id,
        tg_results.sample_date,
        tg_results.tg_ng_ml,
        tg_results.tg_comparator,
        row_number() over (
            partition by cycles.rait_id
            order by tg_results.sample_date, {{ byte_order('tg_results.lab_id') }}
        ) as candidate_rank
    from cycles
    inner join tg_results
        on cycles.patient_id = tg_results.patient_id
        and tg_results.sample_date >= {{ add_days('cycles.admin_date', var('tg_post_min_days')) }}
        and tg_results.sample_date <= {{ add_days('cycles.admin_date', var('tg_post_max_days')) }}
    where cycles.is_last_cycle

),

last_cycle_tg_post as (

    select * from last_cycle_post_candidates
    where candidate_rank = 1

),

joined as (

    select
        cycles.patient_id,
        cycles.rait_id,
        cycles.cycle_number,
        cycles.admin_date,
        tg_pre.tg_ng_ml as tg_pre,
        tg_pre.tg_comparator as tg_pre_comparator,
        tg_pre.lab_id as tg_pre_lab_id,
        case when cycles.is_last_cycle then last_cycle_tg_post.tg_ng_ml else next_tg_pre.tg_ng_ml end as tg_post,
        case when cycles.is_last_cycle then last_cycle_tg_post.tg_comparator else next_tg_pre.tg_comparator end
            as tg_post_comparator,
        case when cycles.is_last_cycle then last_cycle_tg_post.lab_id else next_tg_pre.lab_id end as tg_post_lab_id,
        case when cycles.is_last_cycle then last_cycle_tg_post.sample_date else next_tg_pre.sample_date end
            as tg_post_sample_date
    from cycles
    left join tg_pre
        on cycles.rait_id = tg_pre.rait_id
    left join tg_pre as next_tg_pre
        on cycles.next_rait_id = next_tg_pre.rait_id
    left join last_cycle_tg_post
        on cycles.rait_id = last_cycle_tg_post.rait_id

),

final as (

    select
        *,
        {{ tg_decline('tg_pre', 'tg_pre_comparator', 'tg_post', 'tg_post_comparator') }} as delta_tg
    from joined

)

select * from final
