-- Staging: imaging findings (docs/specification.md section 1).
-- Rename only: ingest has already typed and checked every value.
{{ config(alias='imaging_findings') }}

with source as (

    select * from {{ source('registry', 'imaging_findings') }}

),

final as (

    select
        finding_id,
        patient_id,
        study_date,
        modality,
        rait_id,
        site,
        status,
        rai_avid,
        max_lesion_mm,
        remnant_uptake,
        confirmation,
        source_row
    from source

)

select * from final
