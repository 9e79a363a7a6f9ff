-- Staging: follow-up (contract section 1). Rename/cast/normalise only.
{{ config(alias='follow_up') }}

with source as (

    select * from {{ source('registry', 'follow_up') }}

),

final as (

    select
        {{ clean_text('patient_id') }} as patient_id,
        {{ to_date('last_contact_date') }} as last_contact_date,
        {{ canonical_vocab('vital_status', contract_vocabulary('vital_status')) }} as vital_status,
        {{ to_date('death_date') }} as death_date,
        source_row
    from source

)

select * from final
