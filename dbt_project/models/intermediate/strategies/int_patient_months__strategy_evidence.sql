-- Rule (docs/specification.md section 3, marts.strategy_evidence_monthly; the target-trial emulation of
-- treatment strategies), one row per patient with a RAIT and per month since the first RAIT:
--   months are 30.4375 days; month m holds the days d = date - first_rait_date with
--   m * 30.4375 <= d < (m + 1) * 30.4375, so the month of a date is floor(d / 30.4375);
--   a patient has the months that start before the PFS end_date (int_patients__pfs: progression,
--   death or censoring), and month 0 always; start_months = m, stop_months = m + 1 except in the
--   last month (the one whose end is on or after the end_date), where it is pfs_months; as in a
--   counting process, month m is the interval (start_months, stop_months];
--   each row carries only what was KNOWN WHEN THE MONTH STARTED: a piece of evidence dated in
--   month k is known from month k + 1 on (never in its own month: the first cycle's scan of an
--   m-RAIT patient is the second cycle's RxWBS, dated after the second RAIT, and must not
--   explain that decision):
--   - delta_tg: the first cycle's Tg decline (int_rait_cycles__thyroglobulin), known once the
--     sample of its tg_post is dated; tg_post_known says so (delta_tg may stay NULL when known,
--     e.g. a tg_pre below detection);
--   - scan_change: the first cycle's lung scan change (int_rait_cycles__scan_change), known once
--     its scan is dated;
--   - n_new_lesions: findings with status new (any site, any modality) dated on or after
--     first_rait_date; a new lesion more than var rxwbs_window_days after the first RAIT is
--     progression and ends follow-up, so later months only count the first RxWBS's ones;
--   - second_rait_given: the second RAIT (cycle 2) was given before the month started;
--   and what happens during the month: second_rait_in_month (cycle 2 dated in the month, before
--   the PFS end_date) and pfs_event_in_month (progression or death in the last month).

with key_dates as (

    select * from {{ only_changed_patients(ref('int_patients__key_dates')) }}

),

pfs as (

    select * from {{ only_changed_patients(ref('int_patients__pfs')) }}

),

cycles as (

    select * from {{ only_changed_patients(ref('int_rait_cycles__numbered')) }}

),

thyroglobulin as (

    select * from {{ only_changed_patients(ref('int_rait_cycles__thyroglobulin')) }}

),

tg_results as (

    select * from {{ only_changed_patients(ref('int_lab_results__tg_classified')) }}

),

scan_change as (

    select * from {{ only_changed_patients(ref('int_rait_cycles__scan_change')) }}

),

imaging_findings as (

    select * from {{ only_changed_patients(ref('stg_registry__imaging_findings')) }}

),

month_numbers as (

    select n as month_number from {{ integer_series(1000) }} as numbers

),

follow_up as (

    select
        pfs.patient_id,
        pfs.start_date,
        pfs.end_date,
        pfs.pfs_event,
        {{ days_between('pfs.start_date', 'pfs.end_date') }} as end_day
    from pfs

),

second_rait as (

    select
        cycles.patient_id,
        {{ days_between('key_dates.first_rait_date', 'cycles.admin_date') }} as second_rait_day
    from cycles
    inner join key_dates
        on cycles.patient_id = key_dates.patient_id
    where cycles.cycle_number = 2

),

first_cycle_tg as (

    select
        thyroglobulin.patient_id,
        thyroglobulin.delta_tg,
        {{ days_between('key_dates.first_rait_date', 'tg_results.sample_date') }} as tg_post_day
    from thyroglobulin
    inner join key_dates
        on thyroglobulin.patient_id = key_dates.patient_id
    inner join tg_results
        on thyroglobulin.tg_post_lab_id = tg_results.lab_id
    where thyroglobulin.cycle_number = 1

),

first_cycle_scan as (

    select
        scan_change.patient_id,
        scan_change.scan_change,
        {{ days_between('key_dates.first_rait_date', 'imaging_findings.study_date') }} as scan_day
    from scan_change
    inner join key_dates
        on scan_change.patient_id = key_dates.patient_id
    inner join imaging_findings
        on scan_change.scan_finding_id = imaging_findings.finding_id
    where scan_change.cycle_number = 1

),

new_lesions as (

    select
        imaging_findings.patient_id,
        {{ days_between('key_dates.first_rait_date', 'imaging_findings.study_date') }} as lesion_day
    from imaging_findings
    inner join key_dates
        on imaging_findings.patient_id = key_dates.patient_id
    where imaging_findings.status = 'new'
        and imaging_findings.study_date >= key_dates.first_rait_date

),

-- a lesion dated on day d (>= 0) is known in month m when d < m * 30.4375, i.e. from month
-- floor(d / 30.4375) + 1 on; the known count is a step function of the month: one step per
-- patient and month in which the count grows (few rows), so the person-months need no group by
lesions_by_known_month as (

    select
        new_lesions.patient_id,
        floor(new_lesions.lesion_day / 30.4375) + 1 as known_from_month,
        count(*) as n_lesions
    from new_lesions
    group by new_lesions.patient_id, floor(new_lesions.lesion_day / 30.4375) + 1

),

lesion_steps as (

    select
        lesions_by_known_month.patient_id,
        lesions_by_known_month.known_from_month,
        lead(lesions_by_known_month.known_from_month) over (
            partition by lesions_by_known_month.patient_id
            order by lesions_by_known_month.known_from_month
        ) as next_step_month,
        sum(lesions_by_known_month.n_lesions) over (
            partition by lesions_by_known_month.patient_id
            order by lesions_by_known_month.known_from_month
            rows between unbounded preceding and current row
        ) as n_new_lesions
    from lesions_by_known_month

),

-- month m is followed when m = 0 or m * 30.4375 < end_day, i.e. for m < ceil(end_day / 30.4375)
-- and at least month 0 (a range join on the month count, not an or-join over every month)
follow_up_months as (

    select
        follow_up.*,
        greatest(ceil(follow_up.end_day / 30.4375), 1) as n_months
    from follow_up

),

patient_months as (

    select
        follow_up_months.patient_id,
        month_numbers.month_number,
        follow_up_months.end_day,
        follow_up_months.pfs_event,
        month_numbers.month_number * 30.4375 as month_start_day,
        (month_numbers.month_number + 1) * 30.4375 as next_month_start_day
    from follow_up_months
    inner join month_numbers
        on month_numbers.month_number < follow_up_months.n_months

),

final as (

    select
        patient_months.patient_id,
        patient_months.month_number,
        {{ dbt.cast('patient_months.month_number', type_double()) }} as start_months,
        case
            when patient_months.end_day <= patient_months.next_month_start_day
                then {{ days_to_months('patient_months.end_day') }}
            else {{ dbt.cast('patient_months.month_number + 1', type_double()) }}
        end as stop_months,
        coalesce(first_cycle_tg.tg_post_day < patient_months.month_start_day, false) as tg_post_known,
        case
            when first_cycle_tg.tg_post_day < patient_months.month_start_day then first_cycle_tg.delta_tg
        end as delta_tg,
        case
            when first_cycle_scan.scan_day < patient_months.month_start_day then first_cycle_scan.scan_change
        end as scan_change,
        {{ dbt.cast('coalesce(lesion_steps.n_new_lesions, 0)', api.Column.translate_type('bigint')) }} as n_new_lesions,
        coalesce(second_rait.second_rait_day < patient_months.month_start_day, false) as second_rait_given,
        coalesce(
            second_rait.second_rait_day >= patient_months.month_start_day
            and second_rait.second_rait_day < patient_months.next_month_start_day
            and second_rait.second_rait_day < patient_months.end_day,
            false
        ) as second_rait_in_month,
        (
            patient_months.pfs_event = 1
            and patient_months.end_day <= patient_months.next_month_start_day
        ) as pfs_event_in_month,
        patient_months.end_day <= patient_months.next_month_start_day as is_last_month
    from patient_months
    left join lesion_steps
        on patient_months.patient_id = lesion_steps.patient_id
        and patient_months.month_number >= lesion_steps.known_from_month
        and (lesion_steps.next_step_month is null or patient_months.month_number < lesion_steps.next_step_month)
    left join first_cycle_tg
        on patient_months.patient_id = first_cycle_tg.patient_id
    left join first_cycle_scan
        on patient_months.patient_id = first_cycle_scan.patient_id
    left join second_rait
        on patient_months.patient_id = second_rait.patient_id

)

select * from final
