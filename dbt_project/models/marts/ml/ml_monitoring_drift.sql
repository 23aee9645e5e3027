{#- Population stability of the score and of each model input, per month, against the model's
    training window: PSI = Σ (actual − expected) · ln(actual / expected) over the variable's bins,
    shares floored at var('monitoring_share_floor'). Bins come from the training window alone:
    deciles for a number with many values there, else its most frequent values and `other`, and
    `missing` for no value. -#}
{%- set floor = var('monitoring_share_floor') -%}
with

feature_values as (

    select * from {{ ref('int_ml_feature_values') }}

),

reference as (

    select * from feature_values
    where is_training_window

),

binning as (

    select
        model_version,
        variable_name,
        count(distinct value_number) > {{ var('monitoring_decile_min_distinct') }} as is_binned_by_deciles,
        quantile_cont(value_number, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]) as decile_edges

    from reference
    group by model_version, variable_name

),

levels as (

    select
        model_version,
        variable_name,
        value_text

    from reference
    where value_text is not null
    group by model_version, variable_name, value_text
    qualify
        row_number() over (partition by model_version, variable_name order by count(*) desc, value_text)
        <= {{ var('monitoring_levels') }}

),

binned as (

    select
        feature_values.model_version,
        feature_values.month_start,
        feature_values.is_training_window,
        feature_values.variable_name,
        case
            when feature_values.value_number is null and feature_values.value_text is null then 'missing'
            when binning.is_binned_by_deciles
                then
                    'decile '
                    || cast({{ count_below('feature_values.value_number', 'binning.decile_edges', 9) }} as varchar)
            when levels.value_text is not null then feature_values.value_text
            else 'other'
        end as bin

    from feature_values
    inner join binning
        on
            feature_values.model_version = binning.model_version
            and feature_values.variable_name = binning.variable_name
    left join levels
        on
            feature_values.model_version = levels.model_version
            and feature_values.variable_name = levels.variable_name
            and feature_values.value_text = levels.value_text

),

month_bins as (

    select
        model_version,
        month_start,
        variable_name,
        bin,
        bool_or(is_training_window) as is_training_window,
        count(*) as crashes

    from binned
    group by model_version, month_start, variable_name, bin

),

expected as (

    select
        model_version,
        variable_name,
        bin,
        sum(crashes) / sum(sum(crashes)) over (partition by model_version, variable_name) as bin_share

    from month_bins
    where is_training_window
    group by model_version, variable_name, bin

),

actual as (

    select
        model_version,
        month_start,
        variable_name,
        bin,
        crashes / sum(crashes) over (partition by model_version, month_start, variable_name) as bin_share

    from month_bins

),

months as (

    select
        model_version,
        month_start,
        variable_name,
        bool_or(is_training_window) as is_training_window,
        sum(crashes) as crashes

    from month_bins
    group by model_version, month_start, variable_name

),

bins as (

    select
        model_version,
        variable_name,
        bin
    from expected
    union
    select
        model_version,
        variable_name,
        bin
    from actual

),

compared as (

    select
        months.model_version,
        months.month_start,
        months.variable_name,
        greatest(coalesce(actual.bin_share, 0), {{ floor }}) as actual_share,
        greatest(coalesce(expected.bin_share, 0), {{ floor }}) as expected_share

    from months
    inner join bins
        on
            months.model_version = bins.model_version
            and months.variable_name = bins.variable_name
    left join actual
        on
            months.model_version = actual.model_version
            and months.month_start = actual.month_start
            and months.variable_name = actual.variable_name
            and bins.bin = actual.bin
    left join expected
        on
            months.model_version = expected.model_version
            and months.variable_name = expected.variable_name
            and bins.bin = expected.bin

),

psi as (

    select
        model_version,
        month_start,
        variable_name,
        -- Rounded: the sum's order is free, and its last bits with it.
        round(sum((actual_share - expected_share) * ln(actual_share / expected_share)), 9) as psi,
        count(*) as bins

    from compared
    group by model_version, month_start, variable_name

),

final as (

    select
        cast(months.month_start as date) as month_start,
        cast(months.model_version as varchar) as model_version,
        cast(months.variable_name as varchar) as variable_name,
        cast(months.crashes as bigint) as crashes,
        cast(psi.psi as double) as psi,
        cast(psi.bins as integer) as bins,
        cast(months.is_training_window as boolean) as is_training_window

    from months
    inner join psi
        on
            months.model_version = psi.model_version
            and months.month_start = psi.month_start
            and months.variable_name = psi.variable_name

)

select * from final
