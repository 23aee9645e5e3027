-- The current model's scores by year and score decile, with the observed hit-and-run rate.
with scored as (
    select
        f.crash_year,
        s.model_version,
        s.probability,
        s.predicted_hit_and_run,
        f.is_hit_and_run
    from marts.ml_hit_and_run_scores as s
    inner join marts.ml_hit_and_run_features as f using (crash_record_id)
)

select
    crash_year,
    model_version,
    least(floor(probability * 10), 9) / 10 as score_band,
    count(*) as crash_count,
    avg(probability) as mean_probability,
    avg(is_hit_and_run::int) as observed_share,
    count(*) filter (where predicted_hit_and_run) as flagged_count
from scored
group by all
