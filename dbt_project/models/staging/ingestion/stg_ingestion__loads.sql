{#- dlt's loads into raw: when each load finished, so marts can report rows per load. -#}
with

source as (

    select * from {{ source('ingestion', '_dlt_loads') }}

),

renamed as (

    select
        load_id,
        schema_name,
        cast(status as integer) as load_status,
        cast(inserted_at as timestamptz) as loaded_at

    from source

)

select * from renamed
