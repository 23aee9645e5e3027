{#- One row per person involved in a crash: latest version, typed; without a crash_record_id
    left out (stg_chicago__rejected_records lists it). -#}
{%- set spec = [
    ('person_type', 'text', 'person_type'),
    ('crash_record_id', 'text', 'crash_record_id'),
    ('vehicle_id', 'text', 'vehicle_id'),
    ('crash_date', 'timestamp', 'crash_ts'),
    ('seat_no', 'integer', 'seat_no'),
    ('city', 'text', 'city'),
    ('state', 'text', 'state'),
    ('zipcode', 'text', 'zipcode'),
    ('sex', 'text', 'sex'),
    ('age', 'integer', 'age'),
    ('drivers_license_state', 'text', 'drivers_license_state'),
    ('drivers_license_class', 'text', 'drivers_license_class'),
    ('safety_equipment', 'text', 'safety_equipment'),
    ('airbag_deployed', 'text', 'airbag_deployed'),
    ('ejection', 'text', 'ejection'),
    ('injury_classification', 'text', 'injury_classification'),
    ('hospital', 'text', 'hospital'),
    ('ems_agency', 'text', 'ems_agency'),
    ('ems_run_no', 'text', 'ems_run_no'),
    ('driver_action', 'text', 'driver_action'),
    ('driver_vision', 'text', 'driver_vision'),
    ('physical_condition', 'text', 'physical_condition'),
    ('pedpedal_action', 'text', 'pedpedal_action'),
    ('pedpedal_visibility', 'text', 'pedpedal_visibility'),
    ('pedpedal_location', 'text', 'pedpedal_location'),
    ('bac_result', 'text', 'bac_result'),
    ('bac_result_value', 'double', 'bac_result_value'),
    ('cell_phone_use', 'flag', 'is_cell_phone_use'),
    ('socrata_updated_at', 'timestamp', 'source_updated_at'),
] -%}

with

source as (

    {{ latest_version(chicago_source('people', spec | map('first') | list), 'person_id', 'people') }}

),

renamed as (

    select
        person_id,
        {{- typed_columns(spec) }}
        {{ garbled_columns(spec) }} as garbled_columns,
        _dlt_load_id as load_id

    from source
    where {{ is_usable_row('people') }}

)

select * from renamed
