{#- Derived crash features, shared by fct_crashes and its unit tests. The bins are defined in
    docs/contracts.md; the model's features and the dashboard's filters depend on them. -#}

{#- Floor to the grid, dividing by the (integer) cells per degree so 41.79 comes out as the
    double nearest 41.79. The epsilon keeps 41.79 in the 41.79 cell: 41.79 * 100 is 4178.999…
    in binary floating point, which a bare floor() would put one cell down. -#}
{% macro grid_bin(value, degrees=var('location_grid_degrees')) -%}
    {%- set cells = (1 / degrees) | round | int -%}
    cast(floor({{ value }} * {{ cells }} + 1e-9) / {{ cells }} as double)
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
