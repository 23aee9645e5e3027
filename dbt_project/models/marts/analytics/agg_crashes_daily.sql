{#- Crashes per day, with the hit-and-run share and injury counts: the dashboard's time series. -#}
with

crashes as (

    select * from {{ ref('fct_crashes') }}

),

daily as (

    select
        crash_date,
        count(*) as crash_count,
        count(*) filter (where is_hit_and_run) as hit_and_run_count,
        count(*) filter (where injuries_total > 0) as injury_crash_count,
        count(*) filter (where injuries_fatal > 0) as fatal_crash_count,
        sum(injuries_total) as injuries_total,
        sum(injuries_fatal) as injuries_fatal

    from crashes
    where crash_date is not null
    group by crash_date

),

final as (

    select
        cast(crash_date as date) as crash_date,
        cast(crash_count as integer) as crash_count,
        cast(hit_and_run_count as integer) as hit_and_run_count,
        cast(hit_and_run_count / crash_count as double) as hit_and_run_share,
        cast(injury_crash_count as integer) as injury_crash_count,
        cast(fatal_crash_count as integer) as fatal_crash_count,
        cast(coalesce(injuries_total, 0) as integer) as injuries_total,
        cast(coalesce(injuries_fatal, 0) as integer) as injuries_fatal

    from daily

)

select * from final
