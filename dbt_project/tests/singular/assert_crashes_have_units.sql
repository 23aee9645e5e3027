{{ config(severity='warn') }}
{#- Completeness, not integrity: every crash has at least one unit in Socrata, but the units
    dataset is published separately and can lag (or, in a sample, be a different slice).
    A warning keeps these crashes visible without blocking gold. Measured: the 2021-12 linked
    real sample has 510 of its 1000 crashes without a unit in its 1000-row vehicles file. -#}
select
    crash_record_id,
    crash_ts
from {{ ref('fct_crashes') }}
where unit_count = 0
