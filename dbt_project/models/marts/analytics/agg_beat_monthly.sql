{#- Police beat × month: crash counts and rates, for maps and beat comparisons. -#}
with

crashes as (

    select * from {{ ref('fct_crashes') }}

),

monthly as (

    select
        beat_of_occurrence,
        date_trunc('month', crash_date) as month_start,
        count(*) as crash_count,
        count(*) filter (where is_hit_and_run) as hit_and_run_count,
        count(*) filter (where injuries_total > 0) as injury_crash_count,
        count(*) filter (where injuries_fatal > 0) as fatal_crash_count,
        count(*) filter (where has_pedestrian or has_cyclist) as vulnerable_road_user_crash_count,
        median(latitude) as median_latitude,
        median(longitude) as median_longitude

    from crashes
    where beat_of_occurrence is not null and crash_date is not null
    group by beat_of_occurrence, date_trunc('month', crash_date)

),

final as (

    select
        cast(beat_of_occurrence as varchar) as beat_of_occurrence,
        cast(month_start as date) as month_start,
        cast(crash_count as integer) as crash_count,
        cast(hit_and_run_count as integer) as hit_and_run_count,
        cast(injury_crash_count as integer) as injury_crash_count,
        cast(fatal_crash_count as integer) as fatal_crash_count,
        cast(vulnerable_road_user_crash_count as integer) as vulnerable_road_user_crash_count,
        cast(crash_count / day(last_day(month_start)) as double) as crashes_per_day,
        cast(hit_and_run_count / crash_count as double) as hit_and_run_rate,
        cast(injury_crash_count / crash_count as double) as injury_rate,
        cast(median_latitude as double) as median_latitude,
        cast(median_longitude as double) as median_longitude

    from monthly

)

select * from final
