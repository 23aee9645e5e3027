-- People involved and hurt per year and road user (marts.agg_injuries_by_road_user).
select
    crash_year,
    road_user,
    person_count,
    injured_count,
    fatal_count,
    incapacitating_count,
    injury_rate
from marts.agg_injuries_by_road_user
