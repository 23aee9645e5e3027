{#- One row per crash: the latest version of each record, typed, flags as booleans. A crash
    without a usable crash_date is left out (stg_chicago__rejected_records lists it). -#}
{%- set spec = [
    ('crash_date', 'timestamp', 'crash_ts'),
    ('crash_date_est_i', 'flag', 'is_crash_date_estimated'),
    ('posted_speed_limit', 'integer', 'posted_speed_limit'),
    ('traffic_control_device', 'text', 'traffic_control_device'),
    ('device_condition', 'text', 'device_condition'),
    ('weather_condition', 'text', 'weather_condition'),
    ('lighting_condition', 'text', 'lighting_condition'),
    ('first_crash_type', 'text', 'first_crash_type'),
    ('trafficway_type', 'text', 'trafficway_type'),
    ('lane_cnt', 'integer', 'lane_cnt'),
    ('alignment', 'text', 'alignment'),
    ('roadway_surface_cond', 'text', 'roadway_surface_cond'),
    ('road_defect', 'text', 'road_defect'),
    ('report_type', 'text', 'report_type'),
    ('crash_type', 'text', 'crash_type'),
    ('intersection_related_i', 'flag', 'is_intersection_related'),
    ('private_property_i', 'flag', 'is_private_property'),
    ('hit_and_run_i', 'flag', 'is_hit_and_run'),
    ('damage', 'text', 'damage'),
    ('date_police_notified', 'timestamp', 'police_notified_ts'),
    ('prim_contributory_cause', 'text', 'prim_contributory_cause'),
    ('sec_contributory_cause', 'text', 'sec_contributory_cause'),
    ('street_no', 'text', 'street_no'),
    ('street_direction', 'text', 'street_direction'),
    ('street_name', 'text', 'street_name'),
    ('beat_of_occurrence', 'text', 'beat_of_occurrence'),
    ('photos_taken_i', 'flag', 'is_photos_taken'),
    ('statements_taken_i', 'flag', 'is_statements_taken'),
    ('dooring_i', 'flag', 'is_dooring'),
    ('work_zone_i', 'flag', 'is_work_zone'),
    ('work_zone_type', 'text', 'work_zone_type'),
    ('workers_present_i', 'flag', 'is_workers_present'),
    ('num_units', 'integer', 'num_units'),
    ('most_severe_injury', 'text', 'most_severe_injury'),
    ('injuries_total', 'integer', 'injuries_total'),
    ('injuries_fatal', 'integer', 'injuries_fatal'),
    ('injuries_incapacitating', 'integer', 'injuries_incapacitating'),
    ('injuries_non_incapacitating', 'integer', 'injuries_non_incapacitating'),
    ('injuries_reported_not_evident', 'integer', 'injuries_reported_not_evident'),
    ('injuries_no_indication', 'integer', 'injuries_no_indication'),
    ('injuries_unknown', 'integer', 'injuries_unknown'),
    ('crash_hour', 'integer', 'crash_hour'),
    ('crash_day_of_week', 'integer', 'crash_day_of_week'),
    ('crash_month', 'integer', 'crash_month'),
    ('latitude', 'double', 'latitude'),
    ('longitude', 'double', 'longitude'),
    ('socrata_updated_at', 'timestamp', 'source_updated_at'),
] -%}

with

source as (

    {{ latest_version(chicago_source('crashes', spec | map('first') | list), 'crash_record_id', 'crashes') }}

),

renamed as (

    select
        crash_record_id,
        {{- typed_columns(spec) }}
        {{ garbled_columns(spec) }} as garbled_columns,
        _dlt_load_id as load_id

    from source
    where {{ is_usable_row('crashes') }}

)

select * from renamed
