-- Police beat × month: counts and rates (marts.agg_beat_monthly).
select
    beat_of_occurrence,
    try_cast(beat_of_occurrence as integer) // 100 as district,
    month_start,
    crash_count,
    hit_and_run_count,
    injury_crash_count,
    fatal_crash_count,
    vulnerable_road_user_crash_count,
    crashes_per_day,
    hit_and_run_rate,
    injury_rate
from marts.agg_beat_monthly
