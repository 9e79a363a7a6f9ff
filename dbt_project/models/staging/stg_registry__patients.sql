-- Staging: patients (contract section 1). Rename/cast/normalise only.
{{ config(alias='patients') }}

with source as (

    select * from {{ source('registry', 'patients') }}

),

final as (

    select
        {{ clean_text('patient_id') }} as patient_id,
        {{ canonical_vocab('sex', contract_vocabulary('sex')) }} as sex,
        {{ to_date('birth_date') }} as birth_date,
        {{ clean_text('center_id') }} as center_id,
        source_row
    from source

)

select * from final
