{#- Incremental models take only rows of loads newer than the newest they already hold.
    Load ids are dlt's epoch seconds as text (same width until the year 2286), so they compare
    correctly as text. -#}
{% macro newer_loads(load_column, watermark_column='last_load_id') -%}
    {{ load_column }} > (select coalesce(max({{ watermark_column }}), '') from {{ this }})
{%- endmacro %}
