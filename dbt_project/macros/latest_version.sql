{#- Socrata can deliver a record more than once (amendments; unordered paging repeated 1,926 real
    records). Keep the newest: latest `:updated_at`, then latest load (replays have no
    `:updated_at`, so the load decides). Raw holds one row per key and load (ingestion dedupes
    each sync), so that order is total.

    Raw is merged on the key by dlt, so repeats are rare: keys seen once pass straight through
    and only the rows of repeated keys are ranked, so the window sorts a handful of rows, never
    the table. The repeated keys are those base_chicago__repeated_keys found when it was built,
    plus any key that a row of a newer load repeats; that set is never smaller than the true
    one (a key no longer repeated is only ranked alone), so a view read before the next build is
    still exact. Grouping every raw key instead, in each model that reads staging, was most of
    an incremental build. The rows of repeated keys are found with an inner join, which DuckDB
    builds on that small side. A filter on the result (an incremental model's load id) still
    reaches the scan of `relation`. Pass the relation itself, not a CTE: a CTE used twice would
    be materialised in full. -#}
{% macro latest_version(relation, key, dataset) -%}
    {%- set checked = ref('base_chicago__repeated_keys') -%}
    {%- set repeated_keys -%}
        select unnest(checked.repeated_keys) as {{ key }}
        from {{ checked }} as checked
        where checked.dataset = '{{ dataset }}'
        union
        select newer.{{ key }}
        from {{ relation }} as newer
        where newer.{{ key }} in (
            select {{ key }} from {{ relation }}
            where _dlt_load_id > coalesce(
                (
                    select max(checked.checked_load_id) from {{ checked }} as checked
                    where checked.dataset = '{{ dataset }}'
                ),
                ''
            )
        )
        group by newer.{{ key }}
        having count(*) > 1
    {%- endset -%}
    select single_version.*
    from {{ relation }} as single_version
    anti join ({{ repeated_keys }}) as repeated using ({{ key }})
    union all
    (
        select this_version.*
        from {{ relation }} as this_version
        inner join ({{ repeated_keys }}) as repeated on this_version.{{ key }} = repeated.{{ key }}
        qualify row_number() over (
            partition by this_version.{{ key }}
            order by
                coalesce(try_cast(this_version.socrata_updated_at as timestamp), '-infinity'::timestamp) desc,
                this_version._dlt_load_id desc
        ) = 1
    )
{%- endmacro %}
