-- Staging: lab results (contract section 1). Units that the contract declares equal are
-- stored in one canonical unit per analyte (Tg ng/mL, TgAb IU/mL, TSH mIU/L; factor 1).
{{ config(alias='lab_results') }}

with source as (

    select * from {{ source('registry', 'lab_results') }}

),

unit_conversions as (

    select * from {{ ref('unit_conversions') }}
    where quantity in ('Tg', 'TgAb', 'TSH')

),

typed as (

    select
        {{ clean_text('lab_id') }} as lab_id,
        {{ clean_text('patient_id') }} as patient_id,
        {{ to_date('sample_date') }} as sample_date,
        {{ canonical_vocab('analyte', contract_vocabulary('analyte')) }} as analyte,
        {{ to_decimal('value') }} as value,
        {{ canonical_vocab('comparator', contract_vocabulary('comparator')) }} as comparator,
        {{ canonical_vocab('unit', contract_vocabulary('lab_unit')) }} as unit_as_reported,
        {{ to_decimal('tgab_cutoff') }} as tgab_cutoff,
        source_row
    from source

),

final as (

    select
        typed.lab_id,
        typed.patient_id,
        typed.sample_date,
        typed.analyte,
        typed.value * unit_conversions.factor_to_canonical as value,
        typed.comparator,
        unit_conversions.canonical_unit as unit,
        typed.unit_as_reported,
        typed.tgab_cutoff * unit_conversions.factor_to_canonical as tgab_cutoff,
        typed.source_row
    from typed
    left join unit_conversions
        on typed.analyte = unit_conversions.quantity
        and typed.unit_as_reported = unit_conversions.unit

)

select * from final
