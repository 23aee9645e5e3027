{#- Great Expectations results of the ingestion gate; empty until the gate first runs. -#}
with

source as (

    {{ select_optional_source('ingestion', 'quality_results', [
        ('load_id', 'varchar'),
        ('dataset', 'varchar'),
        ('expectation', 'varchar'),
        ('column_name', 'varchar'),
        ('success', 'boolean'),
        ('unexpected_count', 'bigint'),
        ('element_count', 'bigint'),
        ('checked_at', 'timestamp'),
    ]) }}

),

renamed as (

    select
        load_id,
        dataset,
        expectation,
        column_name,
        success as is_success,
        cast(unexpected_count as integer) as unexpected_count,
        cast(element_count as integer) as element_count,
        checked_at

    from source

)

select * from renamed
