-- Primary contributory causes per year (marts.agg_contributory_causes).
select
    crash_year,
    prim_contributory_cause,
    crash_count,
    share_of_year,
    hit_and_run_count,
    injury_crash_count,
    fatal_crash_count,
    injuries_total
from marts.agg_contributory_causes
