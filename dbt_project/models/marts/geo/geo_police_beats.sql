{#- One row per police beat of the City's current map, with its outline as GeoJSON text, so the
    dashboard and Evidence draw choropleths from gold alone. -#}
with

boundaries as (

    select * from {{ ref('int_boundaries') }}
    where layer = 'police_beats'

),

final as (

    select
        cast(boundaries.id as varchar) as beat,
        cast(boundaries.name as varchar) as beat_name,
        cast(cast(boundaries.id as integer) as varchar) as beat_of_occurrence,
        cast(boundaries.district as integer) as district,
        cast(boundaries.area_km2 as double) as area_km2,
        cast(boundaries.geometry as varchar) as geometry_geojson

    from boundaries

)

select * from final
