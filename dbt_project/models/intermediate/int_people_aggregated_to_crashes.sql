{{ config(
    materialized='incremental',
    unique_key='crash_record_id',
    incremental_strategy='merge',
    on_schema_change='append_new_columns',
) }}
{#- Per crash: who was involved, how badly hurt, and the drivers' ages. A table, incremental:
    only crashes with people in newer loads are re-aggregated. -#}
with

people as (

    select * from {{ ref('stg_chicago__people') }}
    {{ of_crashes_with_newer_rows(ref('stg_chicago__people')) }}

),

drivers as (

    select
        crash_record_id,
        -- ages under 14 are placeholders (0 is common), not drivers' ages
        case when age between 14 and 110 then age end as driver_age

    from people
    where person_type = 'DRIVER'

),

people_aggregated as (

    select
        crash_record_id,
        count(*) as person_count,
        count(*) filter (where person_type = 'DRIVER') as driver_count,
        count(*) filter (where person_type = 'PASSENGER') as passenger_count,
        count(*) filter (where person_type = 'PEDESTRIAN') as pedestrian_count,
        count(*) filter (where {{ is_cyclist('person_type') }}) as cyclist_count,
        count(*) filter (where injury_classification = 'FATAL') as fatal_person_count,
        count(*) filter (
            where injury_classification = 'INCAPACITATING INJURY'
        ) as incapacitated_person_count,
        count(*) filter (
            where injury_classification = 'NONINCAPACITATING INJURY'
        ) as non_incapacitated_person_count,
        count(*) filter (
            where injury_classification = 'REPORTED, NOT EVIDENT'
        ) as reported_not_evident_person_count,
        max(load_id) as last_load_id

    from people
    where crash_record_id is not null
    group by crash_record_id

),

drivers_aggregated as (

    select
        crash_record_id,
        min(driver_age) as youngest_driver_age,
        max(driver_age) as oldest_driver_age,
        count(*) filter (where driver_age < 25) as young_driver_count,
        count(*) filter (where driver_age >= 65) as senior_driver_count

    from drivers
    where crash_record_id is not null
    group by crash_record_id

),

joined as (

    select
        people_aggregated.*,
        drivers_aggregated.youngest_driver_age,
        drivers_aggregated.oldest_driver_age,
        coalesce(drivers_aggregated.young_driver_count, 0) as young_driver_count,
        coalesce(drivers_aggregated.senior_driver_count, 0) as senior_driver_count

    from people_aggregated
    left join drivers_aggregated on people_aggregated.crash_record_id = drivers_aggregated.crash_record_id

)

select * from joined
