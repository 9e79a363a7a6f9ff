-- Staging: RAIT administrations (docs/specification.md section 1). Activity normalised to GBq
-- (1 mCi = 0.037 GBq, 1 MBq = 0.001 GBq; seed unit_conversions).
{{ config(alias='rait_administrations') }}

with source as (

    select * from {{ source('registry', 'rait_administrations') }}

),

unit_conversions as (

    select * from {{ ref('unit_conversions') }}
    where quantity = 'activity'

),

renamed as (

    select
        rait_id,
        patient_id,
        admin_date,
        activity,
        activity_unit,
        preparation,
        intent,
        source_row
    from source

),

final as (

    select
        renamed.rait_id,
        renamed.patient_id,
        renamed.admin_date,
        renamed.activity,
        renamed.activity_unit,
        renamed.activity * unit_conversions.factor_to_canonical as activity_gbq,
        renamed.preparation,
        renamed.intent,
        renamed.source_row
    from renamed
    left join unit_conversions
        on renamed.activity_unit = unit_conversions.unit

)

select * from final
