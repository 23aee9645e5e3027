{#- Socrata can deliver a record more than once (amendments; unordered paging repeated 1,926 real
    records). Keep the newest: latest `:updated_at`, then latest load (replays have no
    `:updated_at`, so the load decides). Raw holds one row per key and load (ingestion dedupes
    each sync), so that order is total.

    Raw is merged on the key by dlt, so repeats are rare: keys seen once pass straight through
    (one hash aggregate over the key column finds the others) and only the rows of repeated keys
    are ranked, so the window sorts a handful of rows, never the table. They are found with an
    inner join on the repeated keys, which DuckDB builds on that small side; "no newer version
    exists" (an anti join on the whole relation) made it hash every row of the table, 1 s per
    read of the vehicles at real scale. A filter on the result (an incremental model's load id)
    still reaches the scan of `relation`. Pass the relation itself, not a CTE: a CTE used twice
    would be materialised in full. -#}
{% macro latest_version(relation, key) -%}
    {%- set repeated_keys -%}
        select {{ key }} from {{ relation }} where {{ key }} is not null group by {{ key }} having count(*) > 1
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
