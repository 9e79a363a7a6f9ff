-- Staging: lab results (docs/specification.md section 1). Units that the contract declares equal are
-- stored in one canonical unit per analyte (Tg ng/mL, TgAb IU/mL, TSH mIU/L; factor 1).
{{ config(alias='lab_results') }}

with source as (

    select * from {{ source('registry', 'lab_results') }}

),

unit_conversions as (

    select * from {{ ref('unit_conversions') }}
    where quantity in ('Tg', 'TgAb', 'TSH')

),

renamed as (

    select
        lab_id,
        patient_id,
        sample_date,
        analyte,
        value,
        comparator,
        unit as unit_as_reported,
        tgab_cutoff,
        source_row
    from source

),

final as (

    select
        renamed.lab_id,
        renamed.patient_id,
        renamed.sample_date,
        renamed.analyte,
        renamed.value * unit_conversions.factor_to_canonical as value,
        renamed.comparator,
        unit_conversions.canonical_unit as unit,
        renamed.unit_as_reported,
        renamed.tgab_cutoff * unit_conversions.factor_to_canonical as tgab_cutoff,
        renamed.source_row
    from renamed
    left join unit_conversions
        on renamed.analyte = unit_conversions.quantity
        and renamed.unit_as_reported = unit_conversions.unit

)

select * from final
