-- Staging: surgeries (contract section 1). Rename/cast/normalise only.
{{ config(alias='surgeries') }}

with source as (

    select * from {{ source('registry', 'surgeries') }}

),

final as (

    select
        {{ clean_text('surgery_id') }} as surgery_id,
        {{ clean_text('patient_id') }} as patient_id,
        {{ to_date('surgery_date') }} as surgery_date,
        {{ canonical_vocab('procedure', contract_vocabulary('procedure')) }} as procedure,
        {{ canonical_vocab('histology', contract_vocabulary('histology')) }} as histology,
        {{ to_decimal('max_tumor_size_cm') }} as max_tumor_size_cm,
        {{ canonical_vocab('t_stage', contract_vocabulary('t_stage')) }} as t_stage,
        {{ canonical_vocab('n_stage', contract_vocabulary('n_stage')) }} as n_stage,
        {{ canonical_vocab('ete', contract_vocabulary('ete')) }} as ete,
        {{ canonical_vocab('resection', contract_vocabulary('resection')) }} as resection,
        {{ to_integer('vascular_invasion_foci') }} as vascular_invasion_foci,
        {{ to_integer('positive_nodes') }} as positive_nodes,
        {{ to_decimal('largest_node_cm') }} as largest_node_cm,
        {{ to_boolean('aggressive_variant') }} as aggressive_variant,
        source_row
    from source

)

select * from final
