{#- Socrata can deliver a record more than once (amendments; unordered paging repeated 1,926 real
    records). Keep the newest: latest `:updated_at`, then latest load; replays have no
    `:updated_at`, so the load decides. -#}
{% macro latest_version(relation, key) -%}
    select *
    from {{ relation }}
    qualify row_number() over (
        partition by {{ key }}
        order by
            try_cast(socrata_updated_at as timestamp) desc nulls last,
            _dlt_load_id desc nulls last
    ) = 1
{%- endmacro %}
