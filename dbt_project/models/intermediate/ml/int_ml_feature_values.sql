{#- How many scored crashes had each value of each watched variable, per model and month: each
    input its model reads (as its metadata lists them) and the score itself, as text and, for
    numbers, as a number, so one binning rule serves them all. Counted per column over the wide
    rows (one pass each over a materialized join) rather than over one row per crash × variable:
    at real scale that long form is 20 M rows. The candidates are the feature mart's scene columns,
    which docs/contracts.md fixes; the model's list picks among them, less var('monitoring_unwatched'). -#}
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
{%- set candidates = (numbers + others) | reject('in', var('monitoring_unwatched')) | list -%}
with

scores as (

    select * from {{ ref('ml_hit_and_run_scores') }}

),

crashes as (

    select * from {{ ref('ml_hit_and_run_features') }}

),

models as (

    select * from {{ ref('stg_ml__scoring_models') }}

),

watched as (

    -- The variables each model's drift is watched on: its inputs and its score.
    select
        model_version,
        unnest(list_append(input_columns, 'score')) as variable_name

    from models

),

scene as materialized (

    -- int_ml_scored_crashes' month and window, taken in the same one join that brings the values
    -- (joining that view back to the crashes would join the 900 k crashes twice).
    select
        scores.model_version,
        cast(date_trunc('month', crashes.crash_ts) as date) as month_start,
        crashes.crash_year between models.train_from_year and models.train_to_year as is_training_window,
        scores.probability as score{% for column in candidates %},
        crashes.{{ column }}{% endfor %}

    from scores
    inner join crashes on scores.crash_record_id = crashes.crash_record_id
    inner join models on scores.model_version = models.model_version

),

counted as (

    select
        model_version,
        month_start,
        'score' as variable_name,
        cast(null as varchar) as value_text,
        score as value_number,
        bool_or(is_training_window) as is_training_window,
        count(*) as crashes
    from scene
    group by model_version, month_start, score
    {% for column in candidates %}
    union all
    select
        model_version,
        month_start,
        '{{ column }}' as variable_name,
        cast({{ column }} as varchar) as value_text,
        {{ 'cast(' ~ column ~ ' as double)' if column in numbers else 'cast(null as double)' }} as value_number,
        bool_or(is_training_window) as is_training_window,
        count(*) as crashes
    from scene
    group by model_version, month_start, {{ column }}
    {% endfor %}

),

final as (

    select
        counted.model_version,
        counted.month_start,
        counted.is_training_window,
        counted.variable_name,
        counted.value_text,
        counted.value_number,
        counted.crashes

    from counted
    inner join watched
        on counted.model_version = watched.model_version and counted.variable_name = watched.variable_name

)

select * from final
