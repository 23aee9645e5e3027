{#- The current model's score for each crash, as the ml stage wrote it. Empty (same columns)
    until the first scoring run, so the first build of a new warehouse never fails. -#}
with

scores as (

    select * from {{ ref('stg_ml__hit_and_run_scores') }}

),

final as (

    select
        cast(crash_record_id as varchar) as crash_record_id,
        cast(probability as double) as probability,
        cast(predicted_hit_and_run as boolean) as predicted_hit_and_run,
        cast(risk_band as varchar) as risk_band,
        cast(model_version as varchar) as model_version,
        cast(scored_at as timestamp) as scored_at

    from scores

)

select * from final
