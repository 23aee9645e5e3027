{#- Schemas are exactly `staging`, `intermediate`, `marts` (dbt would otherwise prefix the target
    schema: `main_staging`). Readers and the gold snapshot rely on these names. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
