-- Rule (docs/specification.md section 2, "Comparator values", TSH and TgAb), one row per TSH or TgAb result:
--   A `<` or `>` value is a bound, never read as an exact value where that could change a result.
--   is_stimulating (TSH rows): an exact TSH >= var stimulated_tsh_min (30 mIU/L) stimulates; a TSH
--                  reported `<X` never does (whatever X); a TSH reported `>X` stimulates when
--                  X >= var stimulated_tsh_min (`>30` yes, `>29` no: the true value may be 29.5).
--   tgab_status (TgAb rows), against the cut-off = the row's tgab_cutoff, else var
--                  tgab_positive_cutoff (115 IU/mL):
--                    negative      an exact value below the cut-off, or `<X` with X <= cut-off;
--                    positive      a value >= the cut-off not reported `<` (exact or `>X`);
--                    indeterminate anything else: `<X` with X > cut-off (the value may be above),
--                                  `>X` with X < cut-off (the value may be at or above).
--   A positive or indeterminate TgAb makes the Tg of that day not interpretable
--   (int_lab_results__tg_classified).

with lab_results as (

    select * from {{ only_changed_patients(ref('stg_registry__lab_results')) }}
    where analyte in ('TSH', 'TgAb')

),

with_cutoff as (

    select
        lab_id,
        patient_id,
        sample_date,
        analyte,
        value,
        comparator,
        case
            when analyte = 'TgAb' then coalesce(tgab_cutoff, {{ var('tgab_positive_cutoff') }})
        end as tgab_cutoff_applied
    from lab_results

),

final as (

    select
        lab_id,
        patient_id,
        sample_date,
        analyte,
        value,
        comparator,
        tgab_cutoff_applied,
        case
            when analyte = 'TSH'
                then coalesce(comparator, '') <> '<' and value >= {{ var('stimulated_tsh_min') }}
        end as is_stimulating,
        case
            when analyte <> 'TgAb' then null
            when comparator is null and value < tgab_cutoff_applied then 'negative'
            when comparator = '<' and value <= tgab_cutoff_applied then 'negative'
            when coalesce(comparator, '') <> '<' and value >= tgab_cutoff_applied then 'positive'
            else 'indeterminate'
        end as tgab_status
    from with_cutoff

)

select * from final
