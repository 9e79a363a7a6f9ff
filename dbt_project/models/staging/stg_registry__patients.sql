-- Staging: patients (docs/specification.md section 1). Rename only: ingest has already typed and checked every value.
{{ config(alias='patients') }}

with source as (

    select * from {{ source('registry', 'patients') }}

),

final as (

    select
        patient_id,
        sex,
        birth_date,
        center_id,
        source_row
    from source

)

select * from final
