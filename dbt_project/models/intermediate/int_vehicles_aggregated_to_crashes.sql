{{ config(
    materialized='incremental',
    unique_key='crash_record_id',
    incremental_strategy='merge',
    on_schema_change='append_new_columns',
) }}
{#- Per crash: its units by type. Units include pedestrians and cyclists, not only vehicles.
    A table, incremental: only crashes with units in newer loads are re-aggregated, so
    fct_crashes reads a few rows instead of grouping every unit on every build. -#}
with

vehicles as (

    select * from {{ ref('stg_chicago__vehicles') }}
    {{ of_crashes_with_newer_rows(ref('stg_chicago__vehicles')) }}

),

aggregated as (

    select
        crash_record_id,
        count(*) as unit_count,
        count(*) filter (where unit_type = 'DRIVER') as driven_vehicle_count,
        count(*) filter (where unit_type = 'PARKED') as parked_vehicle_count,
        count(*) filter (where unit_type = 'DRIVERLESS') as driverless_vehicle_count,
        count(*) filter (where unit_type = 'PEDESTRIAN') as pedestrian_unit_count,
        count(*) filter (where {{ is_cyclist('unit_type') }}) as cyclist_unit_count,
        count(*) filter (where is_commercial_vehicle) as commercial_vehicle_count,
        max(load_id) as last_load_id

    from vehicles
    where crash_record_id is not null
    group by crash_record_id

)

select * from aggregated
