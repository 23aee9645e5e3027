{{ config(
    materialized='incremental',
    unique_key='person_id',
    incremental_strategy='merge',
    on_schema_change='append_new_columns',
    post_hook="{{ drop_rejected_rows('people') }}",
) }}
{#- One row per person in a crash, typed, with their unit (joined on vehicle_id) and their
    road-user group.

    Incremental: people of newer loads are built from staging; people already built whose unit
    arrived in a newer load keep their own columns and take the unit's fresh ones. Both paths
    read only new rows (a filter on the load id reaches the raw scans), and together they give
    what a full build gives. -#}
-- depends_on: {{ ref('stg_chicago__vehicles') }}
-- depends_on: {{ ref('stg_chicago__rejected_records') }}
with

people as (

    select * from {{ ref('int_people_joined_to_vehicles') }}
    {% if is_incremental() %}
    where {{ newer_loads('load_id') }}
    {% endif %}

),

{% if is_incremental() %}
newer_units as (

    select
        vehicle_id,
        crash_unit_id,
        unit_no,
        unit_type,
        load_id as unit_load_id

    from {{ ref('stg_chicago__vehicles') }}
    where {{ newer_loads('load_id') }} and vehicle_id is not null

),

relinked as (

    select
        built.* replace (
            cast(newer_units.crash_unit_id as varchar) as crash_unit_id,
            cast(newer_units.unit_no as integer) as unit_no,
            cast(newer_units.unit_type as varchar) as unit_type,
            cast(greatest(built.load_id, newer_units.unit_load_id) as varchar) as last_load_id
        )

    from {{ this }} as built
    inner join newer_units on built.vehicle_id = newer_units.vehicle_id
    where built.person_id not in (select people.person_id from people)

),
{% endif %}

final as (

    select
        cast(person_id as varchar) as person_id,
        cast(crash_record_id as varchar) as crash_record_id,
        cast(vehicle_id as varchar) as vehicle_id,
        cast(crash_unit_id as varchar) as crash_unit_id,
        cast(unit_no as integer) as unit_no,
        cast(unit_type as varchar) as unit_type,
        cast(crash_ts as timestamp) as crash_ts,
        cast(person_type as varchar) as person_type,
        cast(
            case
                when person_type = 'DRIVER' then 'driver'
                when person_type = 'PASSENGER' then 'passenger'
                when person_type = 'PEDESTRIAN' then 'pedestrian'
                when {{ is_cyclist('person_type') }} then 'cyclist'
                else 'other'
            end as varchar
        ) as road_user,
        cast(seat_no as integer) as seat_no,
        cast(sex as varchar) as sex,
        cast(age as integer) as age,
        cast(city as varchar) as city,
        cast(state as varchar) as state,
        cast(zipcode as varchar) as zipcode,
        cast(drivers_license_state as varchar) as drivers_license_state,
        cast(drivers_license_class as varchar) as drivers_license_class,
        cast(safety_equipment as varchar) as safety_equipment,
        cast(airbag_deployed as varchar) as airbag_deployed,
        cast(ejection as varchar) as ejection,
        cast(injury_classification as varchar) as injury_classification,
        cast(
            coalesce(injury_classification not in ('NO INDICATION OF INJURY'), false) as boolean
        ) as is_injured,
        cast(hospital as varchar) as hospital,
        cast(ems_agency as varchar) as ems_agency,
        cast(ems_run_no as varchar) as ems_run_no,
        cast(driver_action as varchar) as driver_action,
        cast(driver_vision as varchar) as driver_vision,
        cast(physical_condition as varchar) as physical_condition,
        cast(pedpedal_action as varchar) as pedpedal_action,
        cast(pedpedal_visibility as varchar) as pedpedal_visibility,
        cast(pedpedal_location as varchar) as pedpedal_location,
        cast(bac_result as varchar) as bac_result,
        cast(bac_result_value as double) as bac_result_value,
        cast(is_cell_phone_use as boolean) as is_cell_phone_use,
        cast(garbled_columns as varchar[]) as garbled_columns,
        cast(source_updated_at as timestamp) as source_updated_at,
        cast(load_id as varchar) as load_id,
        cast(greatest(load_id, vehicle_load_id) as varchar) as last_load_id

    from people

),

unioned as (

    select * from final
    {% if is_incremental() %}
    union all by name
    select * from relinked
    {% endif %}

)

select * from unioned
