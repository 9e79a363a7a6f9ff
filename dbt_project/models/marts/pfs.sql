-- Mart (docs/specification.md section 3, marts.pfs): one row per patient with a RAIT: progression-free
-- survival from first_rait_date to the first of progression and death, else censored at the last
-- disease assessment (var pfs_censoring = last_assessment, the default) or at last contact
-- (last_contact); pfs_months_last_contact is always the interval censored at last contact. The
-- rule is int_patients__pfs; this mart publishes it.

with pfs as (

    select * from {{ only_changed_patients(ref('int_patients__pfs')) }}

),

final as (

    select
        patient_id,
        start_date,
        end_date,
        pfs_months,
        pfs_event,
        event_type,
        follow_up_months,
        pfs_months_last_contact,
        pd_date,
        death_date,
        last_contact_date,
        last_assessment_date
    from pfs

)

select * from final
