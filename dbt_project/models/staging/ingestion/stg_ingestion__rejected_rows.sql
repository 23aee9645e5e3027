{#- Rows ingestion could not merge; empty until ingestion first rejects one. -#}
with

source as (

    {{ select_optional_source('ingestion', 'rejected_rows', [
        ('dataset', 'varchar'),
        ('reason', 'varchar'),
        ('record', 'varchar'),
        ('_dlt_load_id', 'varchar'),
    ]) }}

),

renamed as (

    select
        dataset,
        reason,
        record,
        _dlt_load_id as load_id

    from source

)

select * from renamed
