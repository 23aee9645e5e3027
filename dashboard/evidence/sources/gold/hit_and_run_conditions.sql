-- Hit-and-run share by the conditions at the scene, one row per year, dimension and value.
select
    crash_year,
    case
        when grouping(lighting_condition) = 0 then 'lighting'
        when grouping(weather_condition) = 0 then 'weather'
        when grouping(roadway_surface_cond) = 0 then 'road surface'
        else 'first crash type'
    end as dimension,
    coalesce(lighting_condition, weather_condition, roadway_surface_cond, first_crash_type, 'UNKNOWN') as condition,
    count(*) as crash_count,
    count(*) filter (where is_hit_and_run) as hit_and_run_count,
    avg(is_hit_and_run::int) as hit_and_run_share
from marts.fct_crashes
group by grouping sets (
    (crash_year, lighting_condition),
    (crash_year, weather_condition),
    (crash_year, roadway_surface_cond),
    (crash_year, first_crash_type)
)
