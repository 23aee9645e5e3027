{#- How the current model does, month by month of crash date: volume, observed share, mean
    score, expected calibration error over the month's score deciles, ROC-AUC (Mann–Whitney:
    ranks with ties averaged) and PR-AUC (average precision by cumulative sums over the distinct
    scores, as scikit-learn computes it), and drift against the training window. Ranking figures
    need both a hit-and-run and another crash in the month; otherwise they are null. -#}
with

scored as (

    select * from {{ ref('int_ml_scored_crashes') }}

),

drift as (

    select * from {{ ref('ml_monitoring_drift') }}

),

months as (

    select
        model_version,
        month_start,
        count(*) as crashes_scored,
        count(*) filter (where is_hit_and_run) as hit_and_runs,
        count(*) filter (where not is_hit_and_run) as other_crashes,
        avg(cast(is_hit_and_run as double)) as observed_share,
        avg(score) as mean_score,
        bool_or(is_training_window) as is_training_window,
        bool_or(is_test_year) as is_test_year

    from scored
    group by model_version, month_start

),

deciles as (

    select
        model_version,
        month_start,
        score,
        is_hit_and_run,
        ntile(10) over (partition by model_version, month_start order by score, crash_record_id) as score_decile

    from scored

),

decile_calibration as (

    select
        model_version,
        month_start,
        count(*) as crashes,
        abs(avg(cast(is_hit_and_run as double)) - avg(score)) as gap

    from deciles
    group by model_version, month_start, score_decile

),

calibration as (

    select
        model_version,
        month_start,
        sum(crashes * gap) / sum(crashes) as calibration_error

    from decile_calibration
    group by model_version, month_start

),

thresholds as (

    select
        model_version,
        month_start,
        score,
        count(*) filter (where is_hit_and_run) as positives,
        count(*) as crashes

    from scored
    group by model_version, month_start, score

),

cumulative as (

    select
        model_version,
        month_start,
        positives,
        crashes,
        sum(positives) over at_or_above as true_positives,
        sum(crashes) over at_or_above as flagged,
        sum(crashes) over (partition by model_version, month_start) as month_crashes

    from thresholds
    window at_or_above as (
        partition by model_version, month_start order by score desc rows between unbounded preceding and current row
    )

),

ranking as (

    -- A score's rank with ties averaged is the crashes scored below it plus the middle of its
    -- ties: ROC-AUC and average precision both come from the distinct scores, not each crash.
    select
        model_version,
        month_start,
        sum(positives * true_positives / flagged) / nullif(sum(positives), 0) as pr_auc,
        sum(positives * (cast(month_crashes - flagged as double) + (crashes + 1) / 2.0)) as positive_rank_sum

    from cumulative
    group by model_version, month_start

),

score_drift as (

    select
        model_version,
        month_start,
        max(psi) filter (where variable_name = 'score') as score_psi,
        max(psi) filter (where variable_name != 'score') as max_feature_psi,
        -- Ties go to the first name, so two builds of the same data name the same feature.
        first(variable_name order by psi desc, variable_name asc) filter (
            where variable_name != 'score'
        ) as most_drifted_feature

    from drift
    group by model_version, month_start

),

figures as (

    select
        months.*,
        calibration.calibration_error,
        case
            when months.hit_and_runs > 0 and months.other_crashes > 0
                then
                    (ranking.positive_rank_sum - months.hit_and_runs * (months.hit_and_runs + 1) / 2.0)
                    / (months.hit_and_runs * months.other_crashes)
        end as roc_auc,
        case when months.other_crashes > 0 then ranking.pr_auc end as pr_auc,
        score_drift.score_psi,
        score_drift.max_feature_psi,
        score_drift.most_drifted_feature

    from months
    inner join calibration
        on months.model_version = calibration.model_version and months.month_start = calibration.month_start
    inner join ranking
        on months.model_version = ranking.model_version and months.month_start = ranking.month_start
    left join score_drift
        on months.model_version = score_drift.model_version and months.month_start = score_drift.month_start

),

final as (

    select
        cast(month_start as date) as month_start,
        cast(model_version as varchar) as model_version,
        cast(crashes_scored as bigint) as crashes_scored,
        cast(hit_and_runs as bigint) as hit_and_runs,
        cast(observed_share as double) as observed_share,
        cast(mean_score as double) as mean_score,
        cast(calibration_error as double) as calibration_error,
        -- The test year's monthly calibration error, averaged: what "as calibrated as when tested"
        -- means at this grain (one month's deciles are noisier than a whole year's).
        cast(
            avg(calibration_error) filter (where is_test_year) over (partition by model_version) as double
        ) as reference_calibration_error,
        cast(roc_auc as double) as roc_auc,
        cast(pr_auc as double) as pr_auc,
        cast(score_psi as double) as score_psi,
        cast(max_feature_psi as double) as max_feature_psi,
        cast(most_drifted_feature as varchar) as most_drifted_feature,
        cast(is_training_window as boolean) as is_training_window,
        cast(is_test_year as boolean) as is_test_year

    from figures

)

select * from final
