{#- Socrata can deliver a record more than once (amendments; unordered paging repeated 1,926 real
    records). Keep the newest: latest `:updated_at`, then latest load (replays have no
    `:updated_at`, so the load decides). Raw holds one row per key and load (ingestion dedupes
    each sync), so that order is total.

    Raw is merged on the key by dlt, so repeats are rare: keys seen once pass straight through
    (one hash aggregate over the key column finds the others) and only repeated keys are ranked,
    with "no newer version exists" rather than a window, so nothing wide is ever sorted. A
    filter on the result (an incremental model's load id) still reaches the scan of `relation`.
    Pass the relation itself, not a CTE: a CTE used twice would be materialised in full. -#}
{% macro latest_version(relation, key) -%}
    {%- set repeated_keys -%}
        select {{ key }} from {{ relation }} where {{ key }} is not null group by {{ key }} having count(*) > 1
    {%- endset -%}
    select single_version.*
    from {{ relation }} as single_version
    anti join ({{ repeated_keys }}) as repeated using ({{ key }})
    union all
    select this_version.*
    from {{ relation }} as this_version
    semi join ({{ repeated_keys }}) as repeated using ({{ key }})
    anti join {{ relation }} as newer_version
        on
            newer_version.{{ key }} = this_version.{{ key }}
            and {{ _version_rank('newer_version') }} > {{ _version_rank('this_version') }}
{%- endmacro %}

{% macro _version_rank(alias) -%}
    (
        coalesce(try_cast({{ alias }}.socrata_updated_at as timestamp), '-infinity'::timestamp),
        {{ alias }}._dlt_load_id
    )
{%- endmacro %}
