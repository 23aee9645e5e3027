{#- The ml stage's scores; no rows (same columns and types) until it first scores. -#}
with

source as (

    {{ select_optional_source('ml', 'hit_and_run_scores', [
        ('crash_record_id', 'varchar'),
        ('probability', 'double'),
        ('predicted_hit_and_run', 'boolean'),
        ('risk_band', 'varchar'),
        ('model_version', 'varchar'),
        ('scored_at', 'timestamp'),
    ]) }}

),

renamed as (

    select
        crash_record_id,
        probability,
        predicted_hit_and_run,
        risk_band,
        model_version,
        scored_at

    from source

)

select * from renamed
