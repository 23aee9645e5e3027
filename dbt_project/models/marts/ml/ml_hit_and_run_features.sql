{{ config(
    materialized='incremental',
    unique_key='crash_record_id',
    incremental_strategy='merge',
    on_schema_change='append_new_columns',
    post_hook="{{ drop_rejected_rows('crashes') }}",
) }}
{#- The hit-and-run model's only input: the label and what is known at the scene when a crash
    is reported. Nothing that is recorded after the fact (injuries, damage, report or crash type,
    causes, police-notified time, photos/statements) or that describes the people and units
    involved may appear here: the contract in docs/contracts.md is the deny-list's guard.

    Incremental: a crash is taken again when fct_crashes rebuilt it from a newer load (its
    last_load_id, carried here as the watermark) or when fct_crashes gave it its beat's new
    median without a new load: only crashes without a valid location of their own are compared
    with the row held here (≈ 7 k of 905 k at real scale, ≈ 1 k of them moved by a day's data).
    Taking all 7 k again cost ≈ 0.3 s of an incremental build; comparing every row instead
    (`except`) cost 5 s. -#}
{%- set held_columns = adapter.get_columns_in_relation(this) | map(attribute='name') | list
    if is_incremental() else [] -%}
-- depends_on: {{ ref('stg_chicago__rejected_records') }}
with

crashes as (

    select * from {{ ref('fct_crashes') }}

),

{% if is_incremental() and 'last_load_id' in held_columns %}
{# Rows held here without a valid location are imputed or have none (no beat median). Reads
   fct_crashes itself: a CTE read twice would be materialised whole. -#}
relocated as (

    select
        located.crash_record_id,
        located.latitude,
        located.longitude
    from {{ ref('fct_crashes') }} as located
    where not located.has_valid_location
    except
    select
        held.crash_record_id,
        held.latitude,
        held.longitude
    from {{ this }} as held
    where held.is_location_imputed or held.latitude is null

),
{% endif %}

features as (

    select
        crash_record_id,
        crash_ts,
        crash_year,
        is_hit_and_run,
        crash_hour,
        crash_day_of_week,
        crash_month,
        is_weekend,
        season,
        hour_bin,
        latitude,
        longitude,
        is_location_imputed,
        lat_bin,
        lng_bin,
        beat_of_occurrence,
        posted_speed_limit,
        num_units,
        lane_cnt,
        traffic_control_device,
        device_condition,
        weather_condition,
        lighting_condition,
        first_crash_type,
        trafficway_type,
        alignment,
        roadway_surface_cond,
        road_defect,
        street_direction,
        street_name,
        is_intersection_related,
        is_private_property,
        is_work_zone,
        is_crash_date_estimated,
        last_load_id

    from crashes
    {% if is_incremental() and 'last_load_id' in held_columns %}
    where
        {{ newer_loads('last_load_id') }}
        or crash_record_id in (select relocated.crash_record_id from relocated)
    {% endif %}

)

select * from features
