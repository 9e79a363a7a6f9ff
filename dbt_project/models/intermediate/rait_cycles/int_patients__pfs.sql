-- Rule (docs/specification.md section 2, "PFS"), one row per patient with a RAIT:
--   start_date = first_rait_date; pd_date = the earliest new-lesion event;
--   a death counts only when vital_status is dead;
--   event at the earlier of pd_date and death_date: progression when pd_date <= death_date (a
--   progression on the day of death is a progression) or there is no death, death when the
--   death comes first or there is no progression; otherwise censored at last_contact_date.
--   pfs_months = (end_date - start_date) days / 30.4375; pfs_event = 1 for progression or death,
--   else 0; follow_up_months = first RAIT to death_date for the dead, else to last_contact_date.

with key_dates as (

    select * from {{ ref('int_patients__key_dates') }}

),

new_lesion_events as (

    select * from {{ ref('int_imaging_findings__new_lesion_events') }}

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
    where key_dates.first_rait_date is not null

),

end_dates as (

    select
        patient_id,
        start_date,
        case event_type
            when 'progression' then pd_date
            when 'death' then death_date
            else last_contact_date
        end as end_date,
        event_type,
        case when event_type = 'censored' then 0 else 1 end as pfs_event,
        follow_up_end_date,
        pd_date,
        death_date,
        last_contact_date
    from outcomes

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
        pd_date,
        death_date,
        last_contact_date
    from end_dates

)

select * from final
