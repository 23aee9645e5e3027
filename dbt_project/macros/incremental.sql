{#- Incremental models take only rows of loads newer than the newest they already hold.
    Load ids are dlt's epoch seconds as text (same width until the year 2286), so they compare
    correctly as text. -#}
{% macro newer_loads(load_column, watermark_column='last_load_id') -%}
    {{ load_column }} > (select coalesce(max({{ watermark_column }}), '') from {{ this }})
{%- endmacro %}

{#- For aggregates per crash: on an incremental build, keep the rows of every crash that has a
    row in a newer load. A crash's aggregate is recomputed from all of its rows, old and new. -#}
{% macro of_crashes_with_newer_rows(relation) -%}
    {%- if is_incremental() %}
    where
        crash_record_id in (
            select newer.crash_record_id from {{ relation }} as newer
            where {{ newer_loads('newer.load_id') }}
        )
    {%- endif -%}
{%- endmacro %}
