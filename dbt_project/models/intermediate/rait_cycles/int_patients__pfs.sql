-- Rule (docs/specification.md section 2, "PFS"), one row per patient with a RAIT:
--   start_date = first_rait_date; pd_date = the earliest new-lesion event;
--   a death counts only when vital_status is dead;
--   event at the earlier of pd_date and death_date: progression when pd_date <= death_date (a
--   progression on the day of death is a progression) or there is no death, death when the
--   death comes first or there is no progression; otherwise censored
--     - at the last disease assessment (int_patients__last_disease_assessment: the latest imaging
--       study in [first_rait_date, last_contact_date], first_rait_date when none), and
--     - for pfs_months_last_contact, at last_contact_date (revision 1's censoring; equal to the
--       other for an event), so both can be analysed from one warehouse.
--   var pfs_censoring (last_assessment by default, or last_contact) chooses which of the two is
--   pfs_months; end_date follows it.
--   pfs_months = (end_date - start_date) days / 30.4375; pfs_event = 1 for progression or death,
--   else 0; follow_up_months = first RAIT to death_date for the dead, else to last_contact_date
--   (whatever the censoring).

{%- set pfs_censoring = var('pfs_censoring') %}
{%- if pfs_censoring not in ('last_assessment', 'last_contact') %}
    {{ exceptions.raise_compiler_error(
        "var pfs_censoring must be last_assessment or last_contact, not '" ~ pfs_censoring ~ "'"
    ) }}
{%- endif %}

with key_dates as (

    select * from {{ only_changed_patients(ref('int_patients__key_dates')) }}

),

new_lesion_events as (

    select * from {{ only_changed_patients(ref('int_imaging_findings__new_lesion_events')) }}

),

last_disease_assessment as (

    select * from {{ only_changed_patients(ref('int_patients__last_disease_assessment')) }}

),

progression as (

    select
        patient_id,
        min(study_date) as pd_date
    from new_lesion_events
    group by patient_id

),

outcomes as (

    select
        key_dates.patient_id,
        key_dates.first_rait_date as start_date,
        progression.pd_date,
        key_dates.death_date,
        key_dates.last_contact_date,
        last_disease_assessment.last_assessment_date,
        case
            when progression.pd_date is not null
                and (key_dates.death_date is null or progression.pd_date <= key_dates.death_date)
                then 'progression'
            when key_dates.death_date is not null then 'death'
            else 'censored'
        end as event_type,
        coalesce(key_dates.death_date, key_dates.last_contact_date) as follow_up_end_date
    from key_dates
    left join progression
        on key_dates.patient_id = progression.patient_id
    left join last_disease_assessment
        on key_dates.patient_id = last_disease_assessment.patient_id
    where key_dates.first_rait_date is not null

),

end_dates as (

    select
        patient_id,
        start_date,
        case event_type
            when 'progression' then pd_date
            when 'death' then death_date
            else last_assessment_date
        end as end_date_last_assessment,
        case event_type
            when 'progression' then pd_date
            when 'death' then death_date
            else last_contact_date
        end as end_date_last_contact,
        event_type,
        case when event_type = 'censored' then 0 else 1 end as pfs_event,
        follow_up_end_date,
        pd_date,
        death_date,
        last_contact_date,
        last_assessment_date
    from outcomes

),

chosen as (

    select
        *,
        {% if pfs_censoring == 'last_contact' -%}
            end_date_last_contact
        {%- else -%}
            end_date_last_assessment
        {%- endif %} as end_date
    from end_dates

),

final as (

    select
        patient_id,
        start_date,
        end_date,
        {{ days_to_months(days_between('start_date', 'end_date')) }} as pfs_months,
        pfs_event,
        event_type,
        {{ days_to_months(days_between('start_date', 'follow_up_end_date')) }} as follow_up_months,
        {{ days_to_months(days_between('start_date', 'end_date_last_contact')) }} as pfs_months_last_contact,
        pd_date,
        death_date,
        last_contact_date,
        last_assessment_date
    from chosen

)

select * from final
