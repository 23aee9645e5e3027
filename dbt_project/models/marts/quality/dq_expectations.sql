{#- The ingestion gate's Great Expectations results, one row per load, dataset and expectation.
    Empty until the gate first runs. -#}
with

results as (

    select * from {{ ref('stg_ingestion__quality_results') }}

),

final as (

    select
        cast(load_id as varchar) as load_id,
        cast(dataset as varchar) as dataset,
        cast(expectation as varchar) as expectation,
        cast(column_name as varchar) as column_name,
        cast(is_success as boolean) as is_success,
        cast(unexpected_count as integer) as unexpected_count,
        cast(element_count as integer) as element_count,
        cast(checked_at as timestamp) as checked_at

    from results

)

select * from final
