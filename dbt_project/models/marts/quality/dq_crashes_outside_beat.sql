{#- One row per crash whose delivered location is not inside the polygon of its own police beat
    (or whose beat is not on the City's map). On the real 2024 crashes 99.3 % lie inside their
    own beat, misses sit on beat edges: a data-quality fact to count and look at, not an error. -#}
with

crashes as (

    select * from {{ ref('fct_crashes') }}
    where has_valid_location and beat_of_occurrence is not null

),

crash_locations as (

    select * from {{ ref('int_crash_locations') }}
    where is_in_own_beat is distinct from true

),

final as (

    select
        cast(crashes.crash_record_id as varchar) as crash_record_id,
        cast(crashes.crash_date as date) as crash_date,
        cast(crashes.beat_of_occurrence as varchar) as beat_of_occurrence,
        cast(cast(crash_locations.located_beat as integer) as varchar) as located_beat,
        cast(crashes.community_area as integer) as community_area,
        cast(crashes.latitude as double) as latitude,
        cast(crashes.longitude as double) as longitude,
        cast(
            case
                when crash_locations.is_in_own_beat is null then 'beat not on the map'
                when crash_locations.located_beat is null then 'outside every beat'
                else 'inside another beat'
            end as varchar
        ) as issue

    from crashes
    inner join crash_locations on crashes.crash_record_id = crash_locations.crash_record_id

)

select * from final
