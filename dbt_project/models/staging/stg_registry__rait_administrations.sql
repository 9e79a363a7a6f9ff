-- Staging: RAIT administrations (contract section 1). Activity normalised to GBq
-- (1 mCi = 0.037 GBq, 1 MBq = 0.001 GBq; seed unit_conversions).
{{ config(alias='rait_administrations') }}

with source as (

    select * from {{ source('registry', 'rait_administrations') }}

),

unit_conversions as (

    select * from {{ ref('unit_conversions') }}
    where quantity = 'activity'

),

typed as (

    select
        {{ clean_text('rait_id') }} as rait_id,
        {{ clean_text('patient_id') }} as patient_id,
        {{ to_date('admin_date') }} as admin_date,
        {{ to_decimal('activity') }} as activity,
        {{ canonical_vocab('activity_unit', contract_vocabulary('activity_unit')) }} as activity_unit,
        {{ canonical_vocab('preparation', contract_vocabulary('preparation')) }} as preparation,
        {{ canonical_vocab('intent', contract_vocabulary('intent')) }} as intent,
        source_row
    from source

),

final as (

    select
        typed.rait_id,
        typed.patient_id,
        typed.admin_date,
        typed.activity,
        typed.activity_unit,
        typed.activity * unit_conversions.factor_to_canonical as activity_gbq,
        typed.preparation,
        typed.intent,
        typed.source_row
    from typed
    left join unit_conversions
        on typed.activity_unit = unit_conversions.unit

)

select * from final
