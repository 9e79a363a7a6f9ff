-- Invariant (docs/specification.md section 2, "RAIT cycles"): each patient's cycles are numbered 1..n without
-- gaps or repeats, n = n_rait_cycles, and marts.patients agrees on n. Returns offending patients.

with rait_cycles as (

    select * from {{ ref('rait_cycles') }}

),

patients as (

    select * from {{ ref('patients') }}

),

per_patient as (

    select
        patient_id,
        count(*) as n_rows,
        count(distinct cycle_number) as n_distinct_numbers,
        min(cycle_number) as min_cycle_number,
        max(cycle_number) as max_cycle_number,
        max(n_rait_cycles) as n_rait_cycles
    from rait_cycles
    group by patient_id

),

final as (

    select
        patients.patient_id,
        patients.n_rait_cycles as n_rait_cycles_in_patients,
        per_patient.n_rows,
        per_patient.min_cycle_number,
        per_patient.max_cycle_number
    from patients
    left join per_patient
        on patients.patient_id = per_patient.patient_id
    where coalesce(per_patient.n_rows, 0) <> patients.n_rait_cycles
        or per_patient.n_distinct_numbers <> per_patient.n_rows
        or per_patient.min_cycle_number <> 1
        or per_patient.max_cycle_number <> per_patient.n_rows
        or per_patient.n_rait_cycles <> per_patient.n_rows

)

select * from final
