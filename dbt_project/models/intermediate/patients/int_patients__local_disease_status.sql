-- Rule (docs/specification.md section 2, "local_disease_status"), one row per patient:
--   NULL for a patient without a RAIT, whatever the anchor. Otherwise the anchor is
--   initial_surgery_date, or diagnosis_date when no initial operation is on record (e.g. only a
--   completion thyroidectomy or a neck dissection); with neither date the status is unknown
--   (missing data: no window can be drawn, and neither would claim that no local disease was
--   found). Else consider the findings at thyroid_bed or neck_nodes with disease (status new,
--   present, stable, increased, reduced) and confirmation cytology or histology, dated strictly
--   between the anchor and first_rait_date. None -> neither; else, with f the earliest such
--   study_date, f - anchor <= var local_disease_window_days (365) -> local_persistent, otherwise
--   local_recurrence.

with key_dates as (

    select * from {{ only_changed_patients(ref('int_patients__key_dates')) }}

),

imaging_findings as (

    select * from {{ only_changed_patients(ref('stg_registry__imaging_findings')) }}

),

anchors as (

    select
        patient_id,
        first_rait_date,
        coalesce(initial_surgery_date, diagnosis_date) as local_disease_anchor_date
    from key_dates

),

confirmed_local_findings as (

    select
        anchors.patient_id,
        min(imaging_findings.study_date) as first_local_disease_date
    from anchors
    inner join imaging_findings
        on anchors.patient_id = imaging_findings.patient_id
        and imaging_findings.study_date > anchors.local_disease_anchor_date
        and imaging_findings.study_date < anchors.first_rait_date
    where imaging_findings.site in ('thyroid_bed', 'neck_nodes')
        and imaging_findings.status in {{ sql_list(disease_statuses()) }}
        and imaging_findings.confirmation in ('cytology', 'histology')
    group by anchors.patient_id

),

final as (

    select
        anchors.patient_id,
        anchors.local_disease_anchor_date,
        confirmed_local_findings.first_local_disease_date,
        case
            when anchors.first_rait_date is null then null
            when anchors.local_disease_anchor_date is null then 'unknown'
            when confirmed_local_findings.first_local_disease_date is null then 'neither'
            when {{ days_between(
                    'anchors.local_disease_anchor_date', 'confirmed_local_findings.first_local_disease_date'
                ) }} <= {{ var('local_disease_window_days') }}
                then 'local_persistent'
            else 'local_recurrence'
        end as local_disease_status
    from anchors
    left join confirmed_local_findings
        on anchors.patient_id = confirmed_local_findings.patient_id

)

select * from final
