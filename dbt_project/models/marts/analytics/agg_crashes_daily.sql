{#- Crashes per day, with the hit-and-run share and injury counts: the dashboard's time series.
    Summed from the day × beat mart, which counts the crashes once for both grains. -#}
with

beat_daily as (

    select * from {{ ref('agg_crashes_beat_daily') }}

),

daily as (

    select
        crash_date,
        sum(crash_count) as crash_count,
        sum(hit_and_run_count) as hit_and_run_count,
        sum(injury_crash_count) as injury_crash_count,
        sum(fatal_crash_count) as fatal_crash_count,
        sum(injuries_total) as injuries_total,
        sum(injuries_fatal) as injuries_fatal

    from beat_daily
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
        cast(injuries_total as integer) as injuries_total,
        cast(injuries_fatal as integer) as injuries_fatal

    from daily

)

select * from final
