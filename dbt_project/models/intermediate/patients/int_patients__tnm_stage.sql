-- Rule (docs/specification.md section 2, "Patient characteristics"), one row per patient:
--   t_stage_max / n_stage_max = the most advanced stage over all of the patient's surgeries, in
--   the order T1a<T1b<T2<T3a<T3b<T4a<T4b and N0<N1a<N1b (seed ajcc_stage_order); TX and NX are
--   ignored (they are not in the seed), so a patient staged only TX has t_stage_max NULL;
--   t_stage_group = T1+T2 or T3+T4 from the seed's group of t_stage_max, NULL when no T stage
--   other than TX is known (docs/specification.md section 3).

with patients as (

    select * from {{ only_changed_patients(ref('stg_registry__patients')) }}

),

surgeries as (

    select * from {{ only_changed_patients(ref('stg_registry__surgeries')) }}

),

stage_order as (

    select * from {{ ref('ajcc_stage_order') }}

),

t_stages as (

    select
        surgeries.patient_id,
        stage_order.stage as t_stage,
        stage_order.stage_group as t_stage_group,
        row_number() over (
            partition by surgeries.patient_id
            order by stage_order.stage_rank desc
        ) as stage_rank_desc
    from surgeries
    inner join stage_order
        on surgeries.t_stage = stage_order.stage
        and stage_order.stage_axis = 'T'

),

n_stages as (

    select
        surgeries.patient_id,
        stage_order.stage as n_stage,
        row_number() over (
            partition by surgeries.patient_id
            order by stage_order.stage_rank desc
        ) as stage_rank_desc
    from surgeries
    inner join stage_order
        on surgeries.n_stage = stage_order.stage
        and stage_order.stage_axis = 'N'

),

final as (

    select
        patients.patient_id,
        t_stages.t_stage as t_stage_max,
        t_stages.t_stage_group,
        n_stages.n_stage as n_stage_max
    from patients
    left join t_stages
        on patients.patient_id = t_stages.patient_id
        and t_stages.stage_rank_desc = 1
    left join n_stages
        on patients.patient_id = n_stages.patient_id
        and n_stages.stage_rank_desc = 1

)

select * from final
