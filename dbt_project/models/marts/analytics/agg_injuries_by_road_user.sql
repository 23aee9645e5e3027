{#- People involved and hurt, per year and road user (driver, passenger, pedestrian, cyclist). -#}
with

people as (

    select * from {{ ref('fct_people') }}

),

injuries as (

    select
        year(crash_ts) as crash_year,
        road_user,
        count(*) as person_count,
        count(*) filter (where is_injured) as injured_count,
        count(*) filter (where injury_classification = 'FATAL') as fatal_count,
        count(*) filter (where injury_classification = 'INCAPACITATING INJURY') as incapacitating_count,
        count(*) filter (
            where injury_classification = 'NONINCAPACITATING INJURY'
        ) as non_incapacitating_count,
        count(*) filter (where injury_classification = 'REPORTED, NOT EVIDENT') as reported_not_evident_count

    from people
    where crash_ts is not null
    group by year(crash_ts), road_user

),

final as (

    select
        cast(crash_year as integer) as crash_year,
        cast(road_user as varchar) as road_user,
        cast(person_count as integer) as person_count,
        cast(injured_count as integer) as injured_count,
        cast(fatal_count as integer) as fatal_count,
        cast(incapacitating_count as integer) as incapacitating_count,
        cast(non_incapacitating_count as integer) as non_incapacitating_count,
        cast(reported_not_evident_count as integer) as reported_not_evident_count,
        cast(injured_count / person_count as double) as injury_rate

    from injuries

)

select * from final
