{{ config(
    materialized='incremental',
    unique_key='crash_record_id',
    incremental_strategy='merge',
    on_schema_change='append_new_columns',
    post_hook="{{ drop_rejected_rows('crashes') }}",
) }}
{#- One row per crash: typed attributes, unit and people aggregates, derived features.

    Incremental: a crash is rebuilt when a newer load touched it, or when its unit or people
    aggregate is newer than every one this table has taken in; every crash whose location is
    imputed takes its beat's new median, because the medians move with new data. That keeps an
    incremental build equal to a full one. unit_last_load_id / person_last_load_id keep, per
    crash, the aggregate's load the row was built from; their maximum is the watermark, so it
    holds even when this model is built without the aggregates (e.g. `--select fct_crashes`):
    aggregates rebuilt later carry newer loads than any it took in. The watermarks are
    literals, so the scans skip old row groups instead of joining every crash to this table. -#}
-- depends_on: {{ ref('stg_chicago__rejected_records') }}
with

{% if is_incremental() %}
{#- A table built before these columns existed holds no per-crash loads: rebuild them all once. -#}
{%- set held_columns = adapter.get_columns_in_relation(this) | map(attribute='name') | list -%}
{%- set unit_watermark = load_watermark('unit_last_load_id') if 'unit_last_load_id' in held_columns else '' -%}
{%- set person_watermark = load_watermark('person_last_load_id') if 'person_last_load_id' in held_columns else '' -%}
{#- A table built before community areas were assigned: every crash is "newer" once. -#}
{%- if 'community_area' not in held_columns -%}
    {%- do model.setdefault('load_watermarks', {}).update({this ~ '.last_load_id': ''}) -%}
{%- endif -%}
newer_crashes as (

    select crash_record_id from {{ ref('stg_chicago__crashes') }}
    where {{ newer_loads('load_id') }}

),

{# Crashes whose units or people changed but whose own record did not: usually none, and then
   DuckDB skips the scan of staging that looks them up. #}
aggregate_changed as (

    select crash_record_id from {{ ref('int_vehicles_aggregated_to_crashes') }}
    where last_load_id > '{{ unit_watermark }}'
    union
    select crash_record_id from {{ ref('int_people_aggregated_to_crashes') }}
    where last_load_id > '{{ person_watermark }}'
    except
    select newer_crashes.crash_record_id from newer_crashes

),

changed as (

    select newer_crashes.crash_record_id from newer_crashes
    union all
    select aggregate_changed.crash_record_id from aggregate_changed

),
{% endif %}

crashes as (

    select * from {{ ref('stg_chicago__crashes') }}
    {% if is_incremental() %}
    where {{ newer_loads('load_id') }}
    union all
    select * from {{ ref('stg_chicago__crashes') }}
    where crash_record_id in (select aggregate_changed.crash_record_id from aggregate_changed)
    {% endif %}

),

vehicles as (

    select * from {{ ref('int_vehicles_aggregated_to_crashes') }}
    {% if is_incremental() %}
    where crash_record_id in (select changed.crash_record_id from changed)
    {% endif %}

),

people as (

    select * from {{ ref('int_people_aggregated_to_crashes') }}
    {% if is_incremental() %}
    where crash_record_id in (select changed.crash_record_id from changed)
    {% endif %}

),

beats as (

    select * from {{ ref('int_beat_locations') }}

),

{# Where the delivered location lies (point-in-polygon, int_crash_locations): rebuilt crashes only. #}
crash_locations as (

    select * from {{ ref('int_crash_locations') }}
    {% if is_incremental() %}
    where crash_record_id in (select changed.crash_record_id from changed)
    {% endif %}

),

community_areas as (

    select * from {{ ref('geo_community_areas') }}

),

located as (

    select
        crashes.*,
        {{ in_chicago('crashes.latitude', 'crashes.longitude') }} as has_valid_location,
        beats.median_latitude as beat_latitude,
        beats.median_longitude as beat_longitude,
        community_areas.community_area,
        community_areas.community_area_name

    from crashes
    left join beats on crashes.beat_of_occurrence = beats.beat_of_occurrence
    left join crash_locations on crashes.crash_record_id = crash_locations.crash_record_id
    left join community_areas on crash_locations.community_area = community_areas.community_area

),

imputed as (

    select
        * exclude (latitude, longitude),
        case when has_valid_location then latitude else beat_latitude end as latitude,
        case when has_valid_location then longitude else beat_longitude end as longitude,
        not has_valid_location and beat_latitude is not null as is_location_imputed,
        coalesce(crash_hour, hour(crash_ts)) as hour_of_day,
        coalesce(crash_day_of_week, dayofweek(crash_ts) + 1) as day_of_week,
        coalesce(crash_month, month(crash_ts)) as month_of_year

    from located

),

final as (

    select
        cast(imputed.crash_record_id as varchar) as crash_record_id,
        cast(imputed.crash_ts as timestamp) as crash_ts,
        cast(cast(imputed.crash_ts as date) as date) as crash_date,
        cast(year(imputed.crash_ts) as integer) as crash_year,
        cast(imputed.hour_of_day as integer) as crash_hour,
        cast(imputed.day_of_week as integer) as crash_day_of_week,
        cast(imputed.month_of_year as integer) as crash_month,
        cast(imputed.day_of_week in (1, 7) as boolean) as is_weekend,
        cast({{ season('imputed.month_of_year') }} as varchar) as season,
        cast({{ hour_bin('imputed.hour_of_day') }} as varchar) as hour_bin,
        cast(imputed.is_crash_date_estimated as boolean) as is_crash_date_estimated,
        cast(imputed.police_notified_ts as timestamp) as police_notified_ts,

        cast(imputed.latitude as double) as latitude,
        cast(imputed.longitude as double) as longitude,
        cast(imputed.has_valid_location as boolean) as has_valid_location,
        cast(imputed.is_location_imputed as boolean) as is_location_imputed,
        {{ grid_bin('imputed.latitude') }} as lat_bin,
        {{ grid_bin('imputed.longitude') }} as lng_bin,
        cast(imputed.beat_of_occurrence as varchar) as beat_of_occurrence,
        cast(imputed.community_area as integer) as community_area,
        cast(imputed.community_area_name as varchar) as community_area_name,
        cast(imputed.street_no as varchar) as street_no,
        cast(imputed.street_direction as varchar) as street_direction,
        cast(imputed.street_name as varchar) as street_name,

        cast(imputed.posted_speed_limit as integer) as posted_speed_limit,
        cast(imputed.traffic_control_device as varchar) as traffic_control_device,
        cast(imputed.device_condition as varchar) as device_condition,
        cast(imputed.weather_condition as varchar) as weather_condition,
        cast(imputed.lighting_condition as varchar) as lighting_condition,
        cast(imputed.first_crash_type as varchar) as first_crash_type,
        cast(imputed.trafficway_type as varchar) as trafficway_type,
        cast(imputed.lane_cnt as integer) as lane_cnt,
        cast(imputed.alignment as varchar) as alignment,
        cast(imputed.roadway_surface_cond as varchar) as roadway_surface_cond,
        cast(imputed.road_defect as varchar) as road_defect,
        cast(imputed.is_intersection_related as boolean) as is_intersection_related,
        cast(imputed.is_private_property as boolean) as is_private_property,
        cast(imputed.is_work_zone as boolean) as is_work_zone,
        cast(imputed.work_zone_type as varchar) as work_zone_type,
        cast(imputed.is_workers_present as boolean) as is_workers_present,
        cast(imputed.num_units as integer) as num_units,

        cast(imputed.is_hit_and_run as boolean) as is_hit_and_run,
        cast(imputed.report_type as varchar) as report_type,
        cast(imputed.crash_type as varchar) as crash_type,
        cast(imputed.damage as varchar) as damage,
        cast(imputed.prim_contributory_cause as varchar) as prim_contributory_cause,
        cast(imputed.sec_contributory_cause as varchar) as sec_contributory_cause,
        cast(imputed.is_photos_taken as boolean) as is_photos_taken,
        cast(imputed.is_statements_taken as boolean) as is_statements_taken,
        cast(imputed.is_dooring as boolean) as is_dooring,
        cast(imputed.most_severe_injury as varchar) as most_severe_injury,
        cast(imputed.injuries_total as integer) as injuries_total,
        cast(imputed.injuries_fatal as integer) as injuries_fatal,
        cast(imputed.injuries_incapacitating as integer) as injuries_incapacitating,
        cast(imputed.injuries_non_incapacitating as integer) as injuries_non_incapacitating,
        cast(imputed.injuries_reported_not_evident as integer) as injuries_reported_not_evident,
        cast(imputed.injuries_no_indication as integer) as injuries_no_indication,
        cast(imputed.injuries_unknown as integer) as injuries_unknown,

        cast(coalesce(vehicles.unit_count, 0) as integer) as unit_count,
        cast(coalesce(vehicles.driven_vehicle_count, 0) as integer) as driven_vehicle_count,
        cast(coalesce(vehicles.parked_vehicle_count, 0) as integer) as parked_vehicle_count,
        cast(coalesce(vehicles.driverless_vehicle_count, 0) as integer) as driverless_vehicle_count,
        cast(coalesce(vehicles.pedestrian_unit_count, 0) as integer) as pedestrian_unit_count,
        cast(coalesce(vehicles.cyclist_unit_count, 0) as integer) as cyclist_unit_count,
        cast(coalesce(vehicles.commercial_vehicle_count, 0) as integer) as commercial_vehicle_count,
        cast(coalesce(people.person_count, 0) as integer) as person_count,
        cast(coalesce(people.driver_count, 0) as integer) as driver_count,
        cast(coalesce(people.passenger_count, 0) as integer) as passenger_count,
        cast(coalesce(people.pedestrian_count, 0) as integer) as pedestrian_count,
        cast(coalesce(people.cyclist_count, 0) as integer) as cyclist_count,
        cast(coalesce(people.fatal_person_count, 0) as integer) as fatal_person_count,
        cast(coalesce(people.incapacitated_person_count, 0) as integer) as incapacitated_person_count,
        cast(coalesce(people.non_incapacitated_person_count, 0) as integer) as non_incapacitated_person_count,
        cast(
            coalesce(people.reported_not_evident_person_count, 0) as integer
        ) as reported_not_evident_person_count,
        cast(people.youngest_driver_age as integer) as youngest_driver_age,
        cast(people.oldest_driver_age as integer) as oldest_driver_age,
        cast(coalesce(people.young_driver_count, 0) as integer) as young_driver_count,
        cast(coalesce(people.senior_driver_count, 0) as integer) as senior_driver_count,
        cast(coalesce(people.pedestrian_count, 0) > 0 as boolean) as has_pedestrian,
        cast(coalesce(people.cyclist_count, 0) > 0 as boolean) as has_cyclist,

        cast(imputed.garbled_columns as varchar[]) as garbled_columns,
        cast(imputed.source_updated_at as timestamp) as source_updated_at,
        cast(imputed.load_id as varchar) as load_id,
        cast(
            greatest(imputed.load_id, vehicles.last_load_id, people.last_load_id) as varchar
        ) as last_load_id,
        cast(vehicles.last_load_id as varchar) as unit_last_load_id,
        cast(people.last_load_id as varchar) as person_last_load_id

    from imputed
    left join vehicles on imputed.crash_record_id = vehicles.crash_record_id
    left join people on imputed.crash_record_id = people.crash_record_id

),

{% if is_incremental() %}
{# A crash not rebuilt whose location is imputed takes its beat's new median, from the row this
   table holds: only the location columns depend on it, and only rows whose median moved are
   merged. #}
reimputed as (

    select
        held.* replace (
            beats.median_latitude as latitude,
            beats.median_longitude as longitude,
            beats.median_latitude is not null as is_location_imputed,
            {{ grid_bin('beats.median_latitude') }} as lat_bin,
            {{ grid_bin('beats.median_longitude') }} as lng_bin
        )

    from {{ this }} as held
    left join beats on held.beat_of_occurrence = beats.beat_of_occurrence
    anti join changed on held.crash_record_id = changed.crash_record_id
    where
        not held.has_valid_location
        and (
            held.latitude is distinct from beats.median_latitude
            or held.longitude is distinct from beats.median_longitude
        )

),
{% endif %}

result as (

    select * from final
    {% if is_incremental() %}
    union all by name
    select * from reimputed
    {% endif %}

)

select * from result
