-- Rule (docs/specification.md section 2, "local_disease_status"), one row per patient:
--   NULL for a patient without a RAIT. Otherwise consider the findings at thyroid_bed or
--   neck_nodes with disease (status new, present, stable, increased, reduced) and confirmation
--   cytology or histology, dated strictly between initial_surgery_date and first_rait_date.
--   None -> neither; else, with f the earliest such study_date,
--   f - initial_surgery_date <= var local_disease_window_days (365) -> local_persistent,
--   otherwise local_recurrence.
-- Reading: a RAIT patient without an initial operation (only a completion thyroidectomy or a
-- neck dissection on record) has no qualifying finding, because the window has no start:
-- neither.

with key_dates as (

    select * from {{ ref('int_patients__key_dates') }}

),

imaging_findings as (

    select * from {{ ref('stg_registry__imaging_findings') }}

),

confirmed_local_findings as (

    select
        key_dates.patient_id,
        min(imaging_findings.study_date) as first_local_disease_date
    from key_dates
    inner join imaging_findings
        on key_dates.patient_id = imaging_findings.patient_id
        and imaging_findings.study_date > key_dates.initial_surgery_date
        and imaging_findings.study_date < key_dates.first_rait_date
    where imaging_findings.site in ('thyroid_bed', 'neck_nodes')
        and imaging_findings.status in {{ sql_list(disease_statuses()) }}
        and imaging_findings.confirmation in ('cytology', 'histology')
    group by key_dates.patient_id

),

final as (

    select
        key_dates.patient_id,
        confirmed_local_findings.first_local_disease_date,
        case
            when key_dates.first_rait_date is null then null
            when confirmed_local_findings.first_local_disease_date is null then 'neither'
            when {{ days_between(
                    'key_dates.initial_surgery_date', 'confirmed_local_findings.first_local_disease_date'
                ) }} <= {{ var('local_disease_window_days') }}
                then 'local_persistent'
            else 'local_recurrence'
        end as local_disease_status
    from key_dates
    left join confirmed_local_findings
        on key_dates.patient_id = confirmed_local_findings.patient_id

)

select * from final
