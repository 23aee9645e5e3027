{#- Every scored crash with its label, its month and where it falls in its model's timeline. -#}
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

scored as (

    select
        scores.crash_record_id,
        scores.model_version,
        cast(date_trunc('month', crashes.crash_ts) as date) as month_start,
        scores.probability as score,
        crashes.is_hit_and_run,
        crashes.crash_year between models.train_from_year and models.train_to_year as is_training_window,
        crashes.crash_year = models.test_year as is_test_year

    from scores
    inner join crashes on scores.crash_record_id = crashes.crash_record_id
    inner join models on scores.model_version = models.model_version

)

select * from scored
