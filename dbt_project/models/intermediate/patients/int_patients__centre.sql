-- Rule (docs/specification.md section 2, "Centre"), one row per patient:
--   center_id = the raw patients.center_id when the extract gives one;
--               'unknown' when it is missing (a single-centre registry that leaves the column
--               out or empty, or one patient without a centre).
-- 'unknown' is a stratum of its own in the centre-stratified analyses, never a missing value:
-- its patients stay in every analysis. A registry that names a centre 'unknown' pools it with them.

with patients as (

    select * from {{ only_changed_patients(ref('stg_registry__patients')) }}

),

final as (

    select
        patient_id,
        coalesce(center_id, '{{ unknown_centre() }}') as center_id
    from patients

)

select * from final
