{#- The model behind the scores; no rows (same columns and types) until it first scores. -#}
with

source as (

    {{ select_optional_source('ml', 'scoring_models', [
        ('model_version', 'varchar'),
        ('train_from_year', 'integer'),
        ('train_to_year', 'integer'),
        ('validation_year', 'integer'),
        ('test_year', 'integer'),
        ('input_columns', 'varchar[]'),
    ]) }}

),

renamed as (

    select
        model_version,
        train_from_year,
        train_to_year,
        validation_year,
        test_year,
        input_columns

    from source

)

select * from renamed
