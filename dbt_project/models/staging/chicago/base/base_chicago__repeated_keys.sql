{{ config(
    materialized='incremental',
    unique_key='dataset',
    incremental_strategy='merge',
) }}
{#- One row per dataset: the keys raw holds more than one version of, and the newest load they
    were looked for in. The staging views rank only these keys' rows (plus any key repeated by a
    load newer than that), so a read of a staging view no longer groups every raw key: that
    aggregate, repeated in each model that reads staging, was most of an incremental build.

    Incremental: only the keys held before and the keys of newer loads can be repeated now
    (dlt's merge only ever removes versions), so only their rows are counted again; a full
    refresh counts every key. -#}
{%- set datasets = var('chicago_datasets') -%}
with

{% for dataset in datasets %}
{%- set key = datasets[dataset]['key'] -%}
{#- A dataset raw does not hold yet is an empty relation: no keys, checked up to no load. -#}
{%- set raw = chicago_source(dataset) -%}
{#- Written out once, so the where clause below renders alike in both branches (for sqlfluff). -#}
{%- set candidate_filter = key ~ ' in (select candidates.' ~ key ~ ' from ' ~ dataset
    ~ '_candidates as candidates)' if is_incremental() else 'true' -%}
{% if is_incremental() %}
{{ dataset }}_candidates as (

    select unnest(held.repeated_keys) as {{ key }}
    from {{ this }} as held
    where held.dataset = '{{ dataset }}'
    union
    select {{ key }} from {{ raw }}
    where _dlt_load_id > coalesce(
            (
                select max(held.checked_load_id) from {{ this }} as held
                where held.dataset = '{{ dataset }}'
            ),
            ''
        )

),
{% endif %}

{{ dataset }}_repeated as (

    select {{ key }} from {{ raw }}
    where
        {{ key }} is not null
        and {{ candidate_filter }}
    group by {{ key }}
    having count(*) > 1

),

{{ dataset }} as (

    select
        '{{ dataset }}' as dataset,
        coalesce(
            (select list(repeated.{{ key }} order by repeated.{{ key }}) from {{ dataset }}_repeated as repeated),
            []
        ) as repeated_keys,
        (select coalesce(max(_dlt_load_id), '') from {{ raw }}) as checked_load_id

),

{% endfor %}

final as (

    {% for dataset in datasets %}
    select
        cast(dataset as varchar) as dataset,
        cast(repeated_keys as varchar[]) as repeated_keys,
        cast(checked_load_id as varchar) as checked_load_id
    from {{ dataset }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

)

select * from final
