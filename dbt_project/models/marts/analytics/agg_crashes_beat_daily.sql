{#- Crashes per day × police beat (× community area): the grain of the dashboard's area filter, so
    its headline figures, time series and area maps sum a few columns here instead of scanning
    every crash. The district is the beat without its last two digits, as CPD numbers them. -#}
with

crashes as (

    select * from {{ ref('fct_crashes') }}

),

daily as (

    select
        crash_date,
        beat_of_occurrence,
        community_area,
        count(*) as crash_count,
        count(*) filter (where is_hit_and_run) as hit_and_run_count,
        count(*) filter (where injuries_total > 0) as injury_crash_count,
        count(*) filter (where injuries_fatal > 0) as fatal_crash_count,
        sum(injuries_total) as injuries_total,
        sum(injuries_fatal) as injuries_fatal

    from crashes
    where crash_date is not null
    group by crash_date, beat_of_occurrence, community_area

),

final as (

    select
        cast(crash_date as date) as crash_date,
        cast(beat_of_occurrence as varchar) as beat_of_occurrence,
        cast(try_cast(beat_of_occurrence as integer) // 100 as integer) as district,
        cast(community_area as integer) as community_area,
        cast(crash_count as integer) as crash_count,
        cast(hit_and_run_count as integer) as hit_and_run_count,
        cast(injury_crash_count as integer) as injury_crash_count,
        cast(fatal_crash_count as integer) as fatal_crash_count,
        cast(coalesce(injuries_total, 0) as integer) as injuries_total,
        cast(coalesce(injuries_fatal, 0) as integer) as injuries_fatal

    from daily

)

select * from final
order by crash_date, beat_of_occurrence
