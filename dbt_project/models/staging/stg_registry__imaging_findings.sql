-- Staging: imaging findings (contract section 1). Rename/cast/normalise only.
{{ config(alias='imaging_findings') }}

with source as (

    select * from {{ source('registry', 'imaging_findings') }}

),

final as (

    select
        {{ clean_text('finding_id') }} as finding_id,
        {{ clean_text('patient_id') }} as patient_id,
        {{ to_date('study_date') }} as study_date,
        {{ canonical_vocab('modality', contract_vocabulary('modality')) }} as modality,
        {{ clean_text('rait_id') }} as rait_id,
        {{ canonical_vocab('site', contract_vocabulary('site')) }} as site,
        {{ canonical_vocab('status', contract_vocabulary('status')) }} as status,
        {{ to_boolean('rai_avid') }} as rai_avid,
        {{ to_decimal('max_lesion_mm') }} as max_lesion_mm,
        {{ canonical_vocab('remnant_uptake', contract_vocabulary('remnant_uptake')) }} as remnant_uptake,
        {{ canonical_vocab('confirmation', contract_vocabulary('confirmation')) }} as confirmation,
        source_row
    from source

)

select * from final
