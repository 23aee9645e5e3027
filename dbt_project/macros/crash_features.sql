{#- Derived crash features. The bins are defined in docs/contracts.md; the model's features and
    the dashboard's filters depend on them. -#}

{#- The south-west corner of the crash's grid cell: floor, not truncation, so -87.655 falls in
    the -87.66 cell like every other point west of -87.65 (a unit test pins this). -#}
{% macro grid_bin(value, degrees=var('location_grid_degrees')) -%}
    {%- set cells = (1 / degrees) | round | int -%}
    cast(floor({{ value }} * {{ cells }}) / {{ cells }} as double)
{%- endmacro %}

{% macro hour_bin(hour) -%}
    case
        when {{ hour }} between 0 and 5 then 'night'
        when {{ hour }} between 6 and 9 then 'morning'
        when {{ hour }} between 10 and 15 then 'midday'
        when {{ hour }} between 16 and 19 then 'evening'
        when {{ hour }} between 20 and 23 then 'late'
    end
{%- endmacro %}

{% macro season(month) -%}
    case
        when {{ month }} in (12, 1, 2) then 'winter'
        when {{ month }} in (3, 4, 5) then 'spring'
        when {{ month }} in (6, 7, 8) then 'summer'
        when {{ month }} in (9, 10, 11) then 'autumn'
    end
{%- endmacro %}

{% macro in_chicago(latitude, longitude) -%}
    {%- set bbox = var('chicago_bbox') -%}
    coalesce(
        {{ latitude }} between {{ bbox.min_latitude }} and {{ bbox.max_latitude }}
        and {{ longitude }} between {{ bbox.min_longitude }} and {{ bbox.max_longitude }},
        false
    )
{%- endmacro %}

{#- Cyclists: the road-user group of a person or unit type, the same in fct_people and in the
    per-crash aggregates of people and of units. -#}
{% macro is_cyclist(type_column) -%}
    {{ type_column }} in ('BICYCLE', 'NON-MOTOR VEHICLE')
{%- endmacro %}
