{#- Looking at relations while a model compiles. -#}

{#- Column names of a relation at run time (none while parsing). -#}
{% macro column_names(relation) -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set found = adapter.get_relation(
        database=relation.database, schema=relation.schema, identifier=relation.identifier
    ) -%}
    {%- if found is none -%}
        {{ return([]) }}
    {%- endif -%}
    {{ return(adapter.get_columns_in_relation(found) | map(attribute='name') | map('lower') | list) }}
{%- endmacro %}

{#- Some inputs are written by other stages and may not exist yet (ml scores before the first
    model, GE results before the first gate). Selecting from them would fail a first build, so
    this returns no rows with the same columns and types until the table appears; a column the
    table lacks becomes a typed null. `source()` is still called, so lineage and docs show it.
    columns: list of (name, type). -#}
{% macro select_optional_source(source_name, table_name, columns) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- set existing = column_names(relation) -%}
    {%- if existing -%}
        select
        {%- for name, type in columns %}
            {% if name | lower in existing -%}
                cast({{ adapter.quote(name) }} as {{ type }})
            {%- else -%}
                cast(null as {{ type }})
            {%- endif %} as {{ name }}{{ "," if not loop.last }}
        {%- endfor %}
        from {{ relation }}
    {%- else -%}
        select
        {%- for name, type in columns %}
            cast(null as {{ type }}) as {{ name }}{{ "," if not loop.last }}
        {%- endfor %}
        where false
    {%- endif -%}
{%- endmacro %}

{#- Whether the catalog holds the relation (at parse time nothing is known: false). -#}
{% macro relation_exists(relation) -%}
    {%- if not execute -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set found = adapter.get_relation(
        database=relation.database, schema=relation.schema, identifier=relation.identifier
    ) -%}
    {{ return(found is not none) }}
{%- endmacro %}

{#- A raw Chicago dataset to select from: `source('chicago', dataset)`, or, while raw does not
    hold that table (only the crashes file has been loaded so far), an empty relation with the
    columns the caller reads, VARCHAR like raw's. The dataset's key, `socrata_updated_at` and
    `_dlt_load_id` are always among them. So a build takes whatever subset of the datasets raw
    holds; the columns come from the caller (its staging spec), the one list of what it reads.
    In a unit test the source is the test's fixture. -#}
{% macro chicago_source(dataset, columns=[]) -%}
    {%- set relation = source('chicago', dataset) -%}
    {%- if not execute or relation.is_cte or relation_exists(relation) -%}
        {{ return(relation) }}
    {%- endif -%}
    {%- set key = var('chicago_datasets')[dataset]['key'] -%}
    {%- set names = ([key] + columns + ['socrata_updated_at', '_dlt_load_id']) | unique | list -%}
    {%- set empty -%}
        (select {% for name in names -%}
            cast(null as varchar) as {{ adapter.quote(name) }}{{ ", " if not loop.last }}
        {%- endfor %} where false)
    {%- endset -%}
    {{ return(empty) }}
{%- endmacro %}
