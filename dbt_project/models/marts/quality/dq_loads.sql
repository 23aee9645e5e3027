{#- Rows per load and dataset: what each dlt load contributed that is still current in gold
    (a later load's amendment moves a record to that load), its garbled rows, and the rows it
    brought that gold leaves out (dq_rejected_records). -#}
{%- set datasets = [('crashes', 'fct_crashes'), ('vehicles', 'fct_vehicles'), ('people', 'fct_people')] -%}
with

loads as (

    select * from {{ ref('stg_ingestion__loads') }}

),

rejected as (

    select
        dataset,
        load_id,
        count(distinct record_key) + count(*) filter (where record_key is null) as rejected_row_count

    from {{ ref('dq_rejected_records') }}
    group by dataset, load_id

),

current_rows as (

    {% for dataset, model in datasets %}
    select
        '{{ dataset }}' as dataset,
        load_id,
        count(*) as row_count,
        count(*) filter (where len(garbled_columns) > 0) as garbled_row_count
    from {{ ref(model) }}
    group by load_id
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

dataset_names as (

    {% for dataset, _ in datasets %}
    select '{{ dataset }}' as dataset
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

load_datasets as (

    select
        loads.load_id,
        loads.loaded_at,
        loads.load_status,
        dataset_names.dataset

    from loads
    cross join dataset_names

),

final as (

    select
        cast(coalesce(load_datasets.load_id, current_rows.load_id) as varchar) as load_id,
        cast(coalesce(load_datasets.dataset, current_rows.dataset) as varchar) as dataset,
        cast(load_datasets.loaded_at as timestamptz) as loaded_at,
        cast(load_datasets.load_status as integer) as load_status,
        cast(coalesce(current_rows.row_count, 0) as integer) as current_row_count,
        cast(coalesce(current_rows.garbled_row_count, 0) as integer) as garbled_row_count,
        cast(coalesce(rejected.rejected_row_count, 0) as integer) as rejected_row_count

    from load_datasets
    full outer join current_rows
        on
            load_datasets.load_id = current_rows.load_id
            and load_datasets.dataset = current_rows.dataset
    left join rejected
        on
            coalesce(load_datasets.load_id, current_rows.load_id) = rejected.load_id
            and coalesce(load_datasets.dataset, current_rows.dataset) = rejected.dataset

)

select * from final
