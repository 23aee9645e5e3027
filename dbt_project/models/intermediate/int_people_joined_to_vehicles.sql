{#- People with their unit. People link to units on vehicle_id, not crash_unit_id. -#}
with

people as (

    select * from {{ ref('stg_chicago__people') }}

),

vehicles as (

    select
        vehicle_id,
        crash_unit_id,
        unit_no,
        unit_type,
        load_id as vehicle_load_id

    from {{ ref('stg_chicago__vehicles') }}
    where vehicle_id is not null

),

joined as (

    select
        people.*,
        vehicles.crash_unit_id,
        vehicles.unit_no,
        vehicles.unit_type,
        vehicles.vehicle_load_id

    from people
    left join vehicles on people.vehicle_id = vehicles.vehicle_id

)

select * from joined
