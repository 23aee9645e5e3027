-- Crashes per day, all of Chicago (marts.agg_crashes_daily).
select
    crash_date,
    crash_count,
    hit_and_run_count,
    hit_and_run_share,
    injury_crash_count,
    fatal_crash_count,
    injuries_total,
    injuries_fatal
from marts.agg_crashes_daily
order by crash_date
