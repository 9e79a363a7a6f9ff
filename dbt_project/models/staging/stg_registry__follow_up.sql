-- Staging: follow-up (docs/specification.md section 1). Rename only: ingest has already typed and checked every value.
{{ config(alias='follow_up') }}

with source as (

    select * from {{ source('registry', 'follow_up') }}

),

final as (

    select
        patient_id,
        last_contact_date,
        vital_status,
        death_date,
        source_row
    from source

)

select * from final
