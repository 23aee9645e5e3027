{#- Some inputs are written by other stages and may not exist yet (ml scores before the first
    model, GE results before the first gate). Selecting from them would fail a first build, so
    these macros return an empty result with the same columns and types until they appear.
    `source()` is still called at parse time so lineage and docs show the dependency. -#}

{% macro relation_exists(relation) -%}
    {%- if not execute -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set found = adapter.get_relation(
        database=relation.database, schema=relation.schema, identifier=relation.identifier
    ) -%}
    {{ return(found is not none) }}
{%- endmacro %}

{#- columns: list of (name, type); present columns are cast, missing ones become typed nulls. -#}
{% macro select_optional_source(source_name, table_name, columns) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- if relation_exists(relation) -%}
        {%- set existing = adapter.get_columns_in_relation(relation) | map(attribute='name') | map('lower') | list -%}
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
