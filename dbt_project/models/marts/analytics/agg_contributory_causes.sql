{#- Primary contributory causes per year: how often, how hit-and-run prone, how injurious. -#}
with

crashes as (

    select * from {{ ref('fct_crashes') }}

),

causes as (

    select
        crash_year,
        coalesce(prim_contributory_cause, 'UNKNOWN') as prim_contributory_cause,
        count(*) as crash_count,
        count(*) filter (where is_hit_and_run) as hit_and_run_count,
        count(*) filter (where injuries_total > 0) as injury_crash_count,
        count(*) filter (where injuries_fatal > 0) as fatal_crash_count,
        sum(injuries_total) as injuries_total

    from crashes
    where crash_year is not null
    group by crash_year, coalesce(prim_contributory_cause, 'UNKNOWN')

),

final as (

    select
        cast(crash_year as integer) as crash_year,
        cast(prim_contributory_cause as varchar) as prim_contributory_cause,
        cast(crash_count as integer) as crash_count,
        cast(crash_count / sum(crash_count) over (partition by crash_year) as double) as share_of_year,
        cast(hit_and_run_count as integer) as hit_and_run_count,
        cast(injury_crash_count as integer) as injury_crash_count,
        cast(fatal_crash_count as integer) as fatal_crash_count,
        cast(coalesce(injuries_total, 0) as integer) as injuries_total

    from causes

)

select * from final
