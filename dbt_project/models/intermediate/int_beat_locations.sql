{{ config(materialized='table') }}
{#- The median location of each police beat's crashes (valid locations only): the value a crash
    without a usable location is given. A table: ~280 rows that every crash build reads. -#}
with

crashes as (

    select * from {{ ref('stg_chicago__crashes') }}

),

located as (

    select
        beat_of_occurrence,
        latitude,
        longitude

    from crashes
    where beat_of_occurrence is not null and {{ in_chicago('latitude', 'longitude') }}

),

beats as (

    select
        beat_of_occurrence,
        median(latitude) as median_latitude,
        median(longitude) as median_longitude,
        count(*) as located_crash_count

    from located
    group by beat_of_occurrence

)

select * from beats
