{#- One row per dataset: whether raw holds it at all, size, freshness (last load, newest crash,
    newest source update), garbled and rejected rows, orphans (units and people whose crash is not
    in gold) and people whose unit is not. -#}
with

loads as (

    select * from {{ ref('stg_ingestion__loads') }}

),

rejected as (

    select
        dataset,
        count(distinct record_key) + count(*) filter (where record_key is null) as rejected_row_count

    from {{ ref('dq_rejected_records') }}
    group by dataset

),

crashes as (

    select
        'crashes' as dataset,
        count(*) as row_count,
        count(*) filter (where len(garbled_columns) > 0) as garbled_row_count,
        0 as orphan_row_count,
        0 as unlinked_row_count,
        count(*) filter (where not has_valid_location) as invalid_location_count,
        max(load_id) as latest_load_id,
        max(crash_ts) as latest_crash_ts,
        max(source_updated_at) as latest_source_updated_at

    from {{ ref('fct_crashes') }}

),

vehicles as (

    select
        'vehicles' as dataset,
        count(*) as row_count,
        count(*) filter (where len(garbled_columns) > 0) as garbled_row_count,
        count(*) filter (where crash_record_id is null) as orphan_row_count,
        0 as unlinked_row_count,
        0 as invalid_location_count,
        max(load_id) as latest_load_id,
        max(crash_ts) as latest_crash_ts,
        max(source_updated_at) as latest_source_updated_at

    from {{ ref('fct_vehicles') }}

),

people as (

    select
        'people' as dataset,
        count(*) as row_count,
        count(*) filter (where len(garbled_columns) > 0) as garbled_row_count,
        count(*) filter (where crash_record_id is null) as orphan_row_count,
        count(*) filter (where vehicle_id is not null and crash_unit_id is null) as unlinked_row_count,
        0 as invalid_location_count,
        max(load_id) as latest_load_id,
        max(crash_ts) as latest_crash_ts,
        max(source_updated_at) as latest_source_updated_at

    from {{ ref('fct_people') }}

),

attached as (

    select
        coalesce(sum(unit_count), 0) as unit_count,
        coalesce(sum(person_count), 0) as person_count

    from {{ ref('fct_crashes') }}

),

missing_crashes as (

    -- Units (people) of crashes that are not loaded: all units with a crash id, less those
    -- fct_crashes counts against its crashes (its unit_count / person_count are the per-crash
    -- aggregates, 0 without any). Two sums, where joining the aggregates to the crashes took
    -- a third of this model's time.
    select
        'vehicles' as dataset,
        coalesce(sum(units.unit_count), 0) - (select attached.unit_count from attached) as row_count
    from {{ ref('int_vehicles_aggregated_to_crashes') }} as units
    union all
    select
        'people' as dataset,
        coalesce(sum(people.person_count), 0) - (select attached.person_count from attached) as row_count
    from {{ ref('int_people_aggregated_to_crashes') }} as people

),

unioned as (

    select * from crashes
    union all
    select * from vehicles
    union all
    select * from people

),

final as (

    select
        cast(unioned.dataset as varchar) as dataset,
        cast(unioned.row_count as integer) as row_count,
        cast(unioned.garbled_row_count as integer) as garbled_row_count,
        cast(unioned.orphan_row_count + coalesce(missing_crashes.row_count, 0) as integer) as orphan_row_count,
        cast(unioned.unlinked_row_count as integer) as unlinked_row_count,
        cast(unioned.invalid_location_count as integer) as invalid_location_count,
        cast(coalesce(rejected.rejected_row_count, 0) as integer) as rejected_row_count,
        -- A dataset with neither a row in gold nor a rejected one was never loaded.
        cast(unioned.row_count > 0 or coalesce(rejected.rejected_row_count, 0) > 0 as boolean) as is_loaded,
        cast(unioned.latest_load_id as varchar) as latest_load_id,
        cast(loads.loaded_at as timestamptz) as last_loaded_at,
        cast(date_diff('minute', loads.loaded_at, current_timestamp) / 60 as double) as hours_since_last_load,
        cast(unioned.latest_crash_ts as timestamp) as latest_crash_ts,
        cast(unioned.latest_source_updated_at as timestamp) as latest_source_updated_at,
        cast(current_timestamp as timestamptz) as checked_at

    from unioned
    left join loads on unioned.latest_load_id = loads.load_id
    left join missing_crashes on unioned.dataset = missing_crashes.dataset
    left join rejected on unioned.dataset = rejected.dataset

)

select * from final
