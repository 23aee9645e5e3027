{{ config(materialized='table') }}
{#- Rows of raw that staging leaves out (see macros/rejections.sql): the latest version of a
    record lacks a value its dataset requires, or has one that cannot be typed. One row per
    record and required column at fault; the record itself stays in raw.

    A table, not a view: finding them types every raw crash_date (≈ 0.3 s for 0.9 M crashes),
    and the mart and the incremental facts' post-hooks all read the list; built once per build,
    before them. -#}
{%- set datasets = var('chicago_datasets') -%}
with

{% for dataset in datasets %}
{%- set key = datasets[dataset]['key'] -%}
{%- set required = required_columns(dataset) -%}
{{ dataset }} as (

    {{ latest_version(chicago_source(dataset, required | map('first') | list), key, dataset) }}

),

{{ dataset }}_rejected as (

    {% for column, kind in required %}
    select
        '{{ dataset }}' as dataset,
        {{ key }} as record_key,
        '{{ column }}' as column_name,
        {{ column }} as raw_value,
        {{ rejection_reason(column, kind) }} as reason,
        _dlt_load_id as load_id
    from {{ dataset }}
    where {{ is_unusable(column, kind) }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

{% endfor %}

unioned as (

    {% for dataset in datasets %}
    select * from {{ dataset }}_rejected
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

)

select * from unioned
