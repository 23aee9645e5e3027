{#- The portal's injuries_total counts fatal, incapacitating, non-incapacitating and
    reported-not-evident injuries: it can never be smaller than their sum (checked only where
    all five are present). -#}
select
    crash_record_id,
    injuries_total,
    injuries_fatal,
    injuries_incapacitating,
    injuries_non_incapacitating,
    injuries_reported_not_evident
from {{ ref('fct_crashes') }}
where
    injuries_total is not null
    and injuries_fatal is not null
    and injuries_incapacitating is not null
    and injuries_non_incapacitating is not null
    and injuries_reported_not_evident is not null
    and injuries_total
    < injuries_fatal
    + injuries_incapacitating
    + injuries_non_incapacitating
    + injuries_reported_not_evident
