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

reference_numbers as (

    select
        model_version,
        variable_name,
        value_number,
        sum(crashes) as crashes,
        sum(sum(crashes)) over (
            partition by model_version, variable_name order by value_number
            rows between unbounded preceding and current row
        ) as crashes_up_to

    from reference
    where value_number is not null
    group by model_version, variable_name, value_number

),

reference_sizes as (

    select
        model_version,
        variable_name,
        count(*) as distinct_values,
        cast(max(crashes_up_to) as double) as reference_crashes

    from reference_numbers
    group by model_version, variable_name

),

decile_ranks as (

    select
        model_version,
        variable_name,
        distinct_values,
        reference_crashes,
        unnest(cast([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9] as double[])) as cut_share

    from reference_sizes

),

decile_bounds as (

    -- quantile_cont's rank in the sorted values, as DuckDB takes it: (n − 1)·q, interpolated
    -- between the values at its floor and at its ceiling.
    select
        model_version,
        variable_name,
        distinct_values,
        cut_share,
        (reference_crashes - 1) * cut_share as rank_position,
        cast(floor((reference_crashes - 1) * cut_share) as bigint) as lower_rank,
        cast(ceil((reference_crashes - 1) * cut_share) as bigint) as upper_rank

    from decile_ranks

),

decile_values as (

    -- The values at those two ranks: of the few distinct values whose ranks reach them.
    select
        decile_bounds.model_version,
        decile_bounds.variable_name,
        decile_bounds.cut_share,
        any_value(decile_bounds.distinct_values) as distinct_values,
        any_value(decile_bounds.rank_position - decile_bounds.lower_rank) as fraction,
        min(reference_numbers.value_number) filter (
            where reference_numbers.crashes_up_to > decile_bounds.lower_rank
        ) as lower_value,
        min(reference_numbers.value_number) filter (
            where reference_numbers.crashes_up_to > decile_bounds.upper_rank
        ) as upper_value

    from decile_bounds
    inner join reference_numbers
        on
            decile_bounds.model_version = reference_numbers.model_version
            and decile_bounds.variable_name = reference_numbers.variable_name
            and decile_bounds.lower_rank < reference_numbers.crashes_up_to
            and decile_bounds.upper_rank >= reference_numbers.crashes_up_to - reference_numbers.crashes
    group by decile_bounds.model_version, decile_bounds.variable_name, decile_bounds.cut_share

),

deciles as (

    select
        model_version,
        variable_name,
        any_value(distinct_values) as distinct_values,
        list(
            case
                when fraction = 0 then lower_value else lower_value + (upper_value - lower_value) * fraction
            end
            order by cut_share
        ) as decile_edges

    from decile_values
    group by model_version, variable_name

),

binning as (

    select
        reference.model_version,
        reference.variable_name,
        coalesce(any_value(deciles.distinct_values), 0)
        > {{ var('monitoring_decile_min_distinct') }} as is_binned_by_deciles,
        any_value(deciles.decile_edges) as decile_edges

    from reference
    left join deciles
        on reference.model_version = deciles.model_version and reference.variable_name = deciles.variable_name
    group by reference.model_version, reference.variable_name

),

levels as (

    -- Only for the variables not binned by deciles: the others' many values need no ranking.
    select
        reference.model_version,
        reference.variable_name,
        reference.value_text

    from reference
    inner join binning
        on
            reference.model_version = binning.model_version
            and reference.variable_name = binning.variable_name
            and not binning.is_binned_by_deciles
    where reference.value_text is not null
    group by reference.model_version, reference.variable_name, reference.value_text
    qualify
        row_number()
            over (
                partition by reference.model_version, reference.variable_name
                order by sum(reference.crashes) desc, reference.value_text
            )
        <= {{ var('monitoring_levels') }}

),

binned_by_deciles as (

    select
        feature_values.model_version,
        feature_values.month_start,
        feature_values.is_training_window,
        feature_values.variable_name,
        feature_values.crashes,
        case
            when feature_values.value_number is null and feature_values.value_text is null then 'missing'
            else
                'decile '
                || cast({{ count_below('feature_values.value_number', 'binning.decile_edges', 9) }} as varchar)
        end as bin

    from feature_values
    inner join binning
        on
            feature_values.model_version = binning.model_version
            and feature_values.variable_name = binning.variable_name
            and binning.is_binned_by_deciles

),

binned_by_levels as (

    select
        feature_values.model_version,
        feature_values.month_start,
        feature_values.is_training_window,
        feature_values.variable_name,
        feature_values.crashes,
        case
            when feature_values.value_number is null and feature_values.value_text is null then 'missing'
            when levels.value_text is not null then feature_values.value_text
            else 'other'
        end as bin

    from feature_values
    inner join binning
        on
            feature_values.model_version = binning.model_version
            and feature_values.variable_name = binning.variable_name
            and not binning.is_binned_by_deciles
    left join levels
        on
            feature_values.model_version = levels.model_version
            and feature_values.variable_name = levels.variable_name
            and feature_values.value_text = levels.value_text

),

binned as (

    select * from binned_by_deciles
    union all
    select * from binned_by_levels

),

month_bins as (

    select
        model_version,
        month_start,
        variable_name,
        bin,
        bool_or(is_training_window) as is_training_window,
        sum(crashes) as crashes

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
