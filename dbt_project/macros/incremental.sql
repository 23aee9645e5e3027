{#- Incremental models take only rows of loads newer than the newest they already hold.
    Load ids are dlt's epoch seconds as text (same width until the year 2286), so they compare
    correctly as text. -#}
{% macro newer_loads(load_column, watermark_column='last_load_id') -%}
    {{ load_column }} > '{{ load_watermark(watermark_column) }}'
{%- endmacro %}

{#- The newest load id the model holds, read when the model runs and written into its SQL as a
    literal: DuckDB pushes a constant filter into the raw scans (and skips row groups of old loads
    by their min/max), which it cannot do for a subquery. Load ids are digits and a dot, so the
    literal needs no escaping; anything else is refused. The `id:` prefix keeps dbt's result
    table from reading the id as a number. Read once per model and column: the value is kept in
    the `model` dict of this render, which every macro the model calls shares. -#}
{% macro load_watermark(watermark_column='last_load_id') -%}
    {%- if not execute -%}
        {{- return('') -}}
    {%- endif -%}
    {%- set cache = model.setdefault('load_watermarks', {}) -%}
    {%- set key = this ~ '.' ~ watermark_column -%}
    {%- if key not in cache -%}
        {%- set found = run_query(
            "select 'id:' || coalesce(max(" ~ watermark_column ~ "), '') from " ~ this
        ) -%}
        {%- set watermark = (found.columns[0].values()[0] | string)[3:] -%}
        {%- if modules.re.fullmatch('[0-9.]*', watermark) is none -%}
            {{- exceptions.raise_compiler_error('unexpected load id ' ~ watermark ~ ' in ' ~ this) -}}
        {%- endif -%}
        {%- do cache.update({key: watermark}) -%}
    {%- endif -%}
    {{- return(cache[key]) -}}
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
