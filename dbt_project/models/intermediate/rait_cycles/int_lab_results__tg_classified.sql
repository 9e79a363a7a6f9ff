-- Rule (docs/specification.md section 2, "Thyroglobulin"), one row per Tg result:
--   is_stimulated    = some TSH result of the same patient on the same sample_date is
--                      stimulating (int_lab_results__tsh_tgab_classified: >= var
--                      stimulated_tsh_min, 30 mIU/L; a `<X` TSH never, a `>X` TSH when X >= 30);
--   is_interpretable = no TgAb result of the same patient on the same sample_date is positive or
--                      indeterminate (int_lab_results__tsh_tgab_classified: against its
--                      tgab_cutoff, default var tgab_positive_cutoff, 115 IU/mL).
-- The Tg value keeps its comparator: a `<` value is the detection limit; how tg_pre and tg_post
-- use it is the rule of int_rait_cycles__thyroglobulin.

with lab_results as (

    select * from {{ only_changed_patients(ref('stg_registry__lab_results')) }}

),

tsh_tgab as (

    select * from {{ only_changed_patients(ref('int_lab_results__tsh_tgab_classified')) }}

),

same_day_context as (

    select
        patient_id,
        sample_date,
        {{ any_true("is_stimulating") }} as has_stimulating_tsh,
        {{ any_true("tgab_status = 'positive'") }} as has_positive_tgab,
        {{ any_true("tgab_status = 'indeterminate'") }} as has_indeterminate_tgab
    from tsh_tgab
    group by patient_id, sample_date

),

thyroglobulin as (

    select * from lab_results
    where analyte = 'Tg'

),

final as (

    select
        thyroglobulin.lab_id,
        thyroglobulin.patient_id,
        thyroglobulin.sample_date,
        thyroglobulin.value as tg_ng_ml,
        thyroglobulin.comparator as tg_comparator,
        coalesce(same_day_context.has_stimulating_tsh, false) as is_stimulated,
        coalesce(same_day_context.has_positive_tgab, false) as has_positive_tgab,
        coalesce(same_day_context.has_indeterminate_tgab, false) as has_indeterminate_tgab,
        not coalesce(same_day_context.has_positive_tgab or same_day_context.has_indeterminate_tgab, false)
            as is_interpretable
    from thyroglobulin
    left join same_day_context
        on thyroglobulin.patient_id = same_day_context.patient_id
        and thyroglobulin.sample_date = same_day_context.sample_date

)

select * from final
