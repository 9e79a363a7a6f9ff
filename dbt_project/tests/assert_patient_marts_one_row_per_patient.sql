-- Invariant (docs/specification.md section 3): marts.patients has one row per staged patient and marts.pfs
-- one row per patient with a RAIT (no patient lost or duplicated by the joins). Returns the
-- offending patients.

with staged_patients as (

    select * from {{ ref('stg_registry__patients') }}

),

patients as (

    select * from {{ ref('patients') }}

),

pfs as (

    select * from {{ ref('pfs') }}

),

missing_patients as (

    select
        staged_patients.patient_id,
        'staged patient missing from marts.patients' as problem
    from staged_patients
    left join patients
        on staged_patients.patient_id = patients.patient_id
    where patients.patient_id is null

),

pfs_mismatch as (

    select
        patients.patient_id,
        'PFS row present iff the patient has a RAIT: violated' as problem
    from patients
    left join pfs
        on patients.patient_id = pfs.patient_id
    where (pfs.patient_id is null) <> (patients.first_rait_date is null)

),

final as (

    select * from missing_patients
    union all
    select * from pfs_mismatch

)

select * from final
