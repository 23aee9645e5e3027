{#- One row per scored crash and watched variable_name: each input its model reads (as its metadata
    lists them) and the score itself, as text and, for numbers, as a number, so one binning rule
    serves them all. The candidates are the feature mart's scene columns, which docs/contracts.md
    fixes; the model's list picks among them, less var('monitoring_unwatched'). -#}
{%- set numbers = [
    'crash_hour', 'crash_day_of_week', 'crash_month', 'latitude', 'longitude', 'posted_speed_limit',
    'num_units', 'lane_cnt',
] -%}
{%- set others = [
    'is_weekend', 'season', 'hour_bin', 'is_location_imputed', 'beat_of_occurrence',
    'traffic_control_device', 'device_condition', 'weather_condition', 'lighting_condition',
    'first_crash_type', 'trafficway_type', 'alignment', 'roadway_surface_cond', 'road_defect',
    'street_direction', 'street_name', 'is_intersection_related', 'is_private_property', 'is_work_zone',
] -%}
with

scored as (

    select * from {{ ref('int_ml_scored_crashes') }}

),

crashes as (

    select * from {{ ref('ml_hit_and_run_features') }}

),

models as (

    select * from {{ ref('stg_ml__scoring_models') }}

),

scene_values as (

    {% for column in (numbers + others) | reject('in', var('monitoring_unwatched')) %}
    select
        crash_record_id,
        '{{ column }}' as variable_name,
        cast({{ column }} as varchar) as value_text,
        {{ 'cast(' ~ column ~ ' as double)' if column in numbers else 'cast(null as double)' }} as value_number
    from crashes
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

inputs as (

    select
        scored.model_version,
        scored.month_start,
        scored.is_training_window,
        scene_values.variable_name,
        scene_values.value_text,
        scene_values.value_number

    from scored
    inner join models on scored.model_version = models.model_version
    inner join scene_values
        on
            scored.crash_record_id = scene_values.crash_record_id
            and list_contains(models.input_columns, scene_values.variable_name)

),

scores as (

    select
        model_version,
        month_start,
        is_training_window,
        'score' as variable_name,
        cast(null as varchar) as value_text,
        score as value_number

    from scored

),

final as (

    select * from inputs
    union all
    select * from scores

)

select * from final
