{#- One row per police district of the City's current map, with its outline as GeoJSON text, so the
    dashboard and Evidence draw choropleths from gold alone. -#}
with

boundaries as (

    select * from {{ ref('int_boundaries') }}
    where layer = 'police_districts'

),

final as (

    select
        cast(boundaries.id as integer) as district,
        cast(boundaries.name as varchar) as district_name,
        cast(boundaries.area_km2 as double) as area_km2,
        cast(boundaries.geometry as varchar) as geometry_geojson

    from boundaries

)

select * from final
