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
