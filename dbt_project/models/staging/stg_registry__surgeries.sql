-- Staging: surgeries (docs/specification.md section 1). Rename only: ingest has already typed and checked every value.
{{ config(alias='surgeries') }}

with source as (

    select * from {{ source('registry', 'surgeries') }}

),

final as (

    select
        surgery_id,
        patient_id,
        surgery_date,
        procedure,
        histology,
        max_tumor_size_cm,
        t_stage,
        n_stage,
        ete,
        resection,
        vascular_invasion_foci,
        positive_nodes,
        largest_node_cm,
        aggressive_variant,
        source_row
    from source

)

select * from final
