{#- Every row gold leaves out, with its key, the column and value that kept it out, why, and the
    load that brought it: rows ingestion could not merge (no key; kept in raw.rejected_rows and
    in bronze) and rows staging could not use (kept in raw). A plain table: rejects are few and
    both inputs are read whole, so an incremental build gives what a full one gives. -#}
{%- set datasets = var('chicago_datasets') -%}
with

staged as (

    select * from {{ ref('stg_chicago__rejected_records') }}

),

unmerged as (

    select * from {{ ref('stg_ingestion__rejected_rows') }}

),

unioned as (

    select
        dataset,
        record_key,
        column_name,
        raw_value,
        reason,
        load_id,
        'raw.' || dataset as kept_in

    from staged
    union all
    select
        dataset,
        null as record_key,
        case dataset
            {%- for dataset in datasets %}
            when '{{ dataset }}' then '{{ datasets[dataset]["key"] }}'
            {%- endfor %}
        end as column_name,
        case dataset
            {%- for dataset in datasets %}
            when '{{ dataset }}' then json_extract_string(record, '$.{{ datasets[dataset]["key"] }}')
            {%- endfor %}
        end as raw_value,
        reason,
        load_id,
        'raw.rejected_rows' as kept_in

    from unmerged

),

final as (

    select
        cast(dataset as varchar) as dataset,
        cast(record_key as varchar) as record_key,
        cast(column_name as varchar) as column_name,
        cast(raw_value as varchar) as raw_value,
        cast(reason as varchar) as reason,
        cast(load_id as varchar) as load_id,
        cast(kept_in as varchar) as kept_in

    from unioned

)

select * from final
