{#- crash_ts is floating Chicago local time, so compare with the clock in Chicago: a crash
    "later than now" there means a garbled or mis-zoned timestamp. -#}
select
    crash_record_id,
    crash_ts
from {{ ref('fct_crashes') }}
where crash_ts > timezone('America/Chicago', current_timestamp)
