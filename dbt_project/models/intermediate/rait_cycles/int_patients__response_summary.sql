-- Rule (docs/specification.md section 2, "Per-cycle response"), one row per patient with a RAIT:
--   first_response = the response of cycle 1; last_response = the response of cycle n (for an
--   o-RAIT patient the two are the same cycle and equal).

with responses as (

    select * from {{ only_changed_patients(ref('int_rait_cycles__response')) }}

),

final as (

    select
        patient_id,
        max(case when cycle_number = 1 then response end) as first_response,
        max(case when cycle_number = 1 then response_basis end) as first_response_basis,
        max(case when is_last_cycle then response end) as last_response,
        max(case when is_last_cycle then response_basis end) as last_response_basis
    from responses
    group by patient_id

)

select * from final
