-- Rule (docs/specification.md section 2, "Thyroglobulin"), one row per Tg result:
--   is_stimulated    = some TSH result of the same patient on the same sample_date is
--                      >= var stimulated_tsh_min (30 mIU/L); a `<` or `>` TSH counts as its
--                      stated value;
--   is_interpretable = no TgAb result of the same patient on the same sample_date is positive;
--                      a TgAb is positive when value >= its tgab_cutoff (default var
--                      tgab_positive_cutoff, 115 IU/mL) and it is not reported with comparator
--                      `<` (a `>` TgAb counts as its stated value).
-- The Tg value keeps its comparator: a `<` value is the detection limit and counts as that value.

with lab_results as (

    select * from {{ ref('stg_registry__lab_results') }}

),

same_day_context as (

    select
        patient_id,
        sample_date,
        {{ any_true("analyte = 'TSH' and value >= " ~ var('stimulated_tsh_min')) }} as has_stimulating_tsh,
        {{ any_true("analyte = 'TgAb'
            and value >= coalesce(tgab_cutoff, " ~ var('tgab_positive_cutoff') ~ ")
            and coalesce(comparator, '') <> '<'") }} as has_positive_tgab
    from lab_results
    where analyte in ('TSH', 'TgAb')
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
        not coalesce(same_day_context.has_positive_tgab, false) as is_interpretable
    from thyroglobulin
    left join same_day_context
        on thyroglobulin.patient_id = same_day_context.patient_id
        and thyroglobulin.sample_date = same_day_context.sample_date

)

select * from final
