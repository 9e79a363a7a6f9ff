-- Rule (docs/specification.md section 2, "Eligibility at baseline", criterion 1), one row per patient:
--   dtc_surgery_at_baseline = criterion 1 (dtc_surgery) on the surgeries known at baseline, those
--   dated on or before baseline_cutoff_date (first_rait_date + var rxwbs_window_days): a total,
--   subtotal or completion thyroidectomy within var surgery_date_min .. var surgery_date_max AND a
--   surgery with histology PTC or FTC, both on or before the cut-off. A completion thyroidectomy
--   (or the only PTC/FTC specimen) after the cut-off does not count. Without a RAIT every surgery
--   counts (no baseline). Never NULL.

with baseline_cutoff as (

    select * from {{ only_changed_patients(ref('int_patients__baseline_cutoff')) }}

),

surgeries as (

    select * from {{ only_changed_patients(ref('stg_registry__surgeries')) }}

),

baseline_surgeries as (

    select
        surgeries.patient_id,
        {{ any_true("surgeries.procedure in " ~ sql_list(thyroidectomy_procedures()) ~ "
            and surgeries.surgery_date >= " ~ date_var('surgery_date_min') ~ "
            and surgeries.surgery_date <= " ~ date_var('surgery_date_max')) }} as has_thyroidectomy_in_period,
        {{ any_true("surgeries.histology in ('PTC', 'FTC')") }} as has_dtc_histology
    from surgeries
    inner join baseline_cutoff
        on surgeries.patient_id = baseline_cutoff.patient_id
    where baseline_cutoff.baseline_cutoff_date is null
        or surgeries.surgery_date <= baseline_cutoff.baseline_cutoff_date
    group by surgeries.patient_id

),

final as (

    select
        baseline_cutoff.patient_id,
        coalesce(
            baseline_surgeries.has_thyroidectomy_in_period and baseline_surgeries.has_dtc_histology, false
        ) as dtc_surgery_at_baseline
    from baseline_cutoff
    left join baseline_surgeries
        on baseline_cutoff.patient_id = baseline_surgeries.patient_id

)

select * from final
