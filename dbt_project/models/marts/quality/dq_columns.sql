{#- Per dataset and column of gold: how many values are missing, and how many were present in
    raw but garbled (could not be typed, so are null in gold). -#}
{%- set datasets = [('crashes', 'fct_crashes'), ('vehicles', 'fct_vehicles'), ('people', 'fct_people')] -%}
with

{% for dataset, model in datasets %}
{{ dataset }}_non_null as (

    unpivot (
        select count(columns(* exclude (garbled_columns))) from {{ ref(model) }}
    )
    on columns(*)
    into name column_name value non_null_count

),

{{ dataset }}_garbled as (

    select
        garbled.column_name,
        count(*) as garbled_count

    from {{ ref(model) }} as facts
    cross join unnest(facts.garbled_columns) as garbled (column_name)
    group by garbled.column_name

),

{{ dataset }}_columns as (

    select
        '{{ dataset }}' as dataset,
        non_null.column_name,
        (select count(*) from {{ ref(model) }}) as row_count,
        non_null.non_null_count,
        coalesce(garbled.garbled_count, 0) as garbled_count

    from {{ dataset }}_non_null as non_null
    left join {{ dataset }}_garbled as garbled on non_null.column_name = garbled.column_name

),

{% endfor %}

unioned as (

    {% for dataset, _ in datasets %}
    select * from {{ dataset }}_columns
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

final as (

    select
        cast(dataset as varchar) as dataset,
        cast(column_name as varchar) as column_name,
        cast(row_count as integer) as row_count,
        cast(row_count - non_null_count as integer) as null_count,
        cast(if(row_count = 0, 0, (row_count - non_null_count) / row_count) as double) as null_share,
        cast(garbled_count as integer) as garbled_count

    from unioned

)

select * from final
