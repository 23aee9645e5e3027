{#- One row per unit (vehicle, pedestrian, cyclist…) in a crash: latest version, typed; without
    a crash_record_id left out (stg_chicago__rejected_records lists it). -#}
{%- set spec = [
    ('crash_record_id', 'text', 'crash_record_id'),
    ('crash_date', 'timestamp', 'crash_ts'),
    ('unit_no', 'integer', 'unit_no'),
    ('unit_type', 'text', 'unit_type'),
    ('num_passengers', 'integer', 'num_passengers'),
    ('vehicle_id', 'text', 'vehicle_id'),
    ('cmrc_veh_i', 'flag', 'is_commercial_vehicle'),
    ('make', 'text', 'vehicle_make'),
    ('model', 'text', 'vehicle_model'),
    ('lic_plate_state', 'text', 'lic_plate_state'),
    ('vehicle_year', 'integer', 'vehicle_year'),
    ('vehicle_defect', 'text', 'vehicle_defect'),
    ('vehicle_type', 'text', 'vehicle_type'),
    ('vehicle_use', 'text', 'vehicle_use'),
    ('travel_direction', 'text', 'travel_direction'),
    ('maneuver', 'text', 'maneuver'),
    ('towed_i', 'flag', 'is_towed'),
    ('fire_i', 'flag', 'is_fire'),
    ('occupant_cnt', 'integer', 'occupant_cnt'),
    ('exceed_speed_limit_i', 'flag', 'is_exceeding_speed_limit'),
    ('towed_by', 'text', 'towed_by'),
    ('towed_to', 'text', 'towed_to'),
    ('area_00_i', 'flag', 'is_area_00_damaged'),
    ('area_01_i', 'flag', 'is_area_01_damaged'),
    ('area_02_i', 'flag', 'is_area_02_damaged'),
    ('area_03_i', 'flag', 'is_area_03_damaged'),
    ('area_04_i', 'flag', 'is_area_04_damaged'),
    ('area_05_i', 'flag', 'is_area_05_damaged'),
    ('area_06_i', 'flag', 'is_area_06_damaged'),
    ('area_07_i', 'flag', 'is_area_07_damaged'),
    ('area_08_i', 'flag', 'is_area_08_damaged'),
    ('area_09_i', 'flag', 'is_area_09_damaged'),
    ('area_10_i', 'flag', 'is_area_10_damaged'),
    ('area_11_i', 'flag', 'is_area_11_damaged'),
    ('area_12_i', 'flag', 'is_area_12_damaged'),
    ('area_99_i', 'flag', 'is_area_99_damaged'),
    ('first_contact_point', 'text', 'first_contact_point'),
    ('cmv_id', 'text', 'cmv_id'),
    ('usdot_no', 'text', 'usdot_no'),
    ('ccmc_no', 'text', 'ccmc_no'),
    ('ilcc_no', 'text', 'ilcc_no'),
    ('commercial_src', 'text', 'commercial_src'),
    ('gvwr', 'text', 'gvwr'),
    ('carrier_name', 'text', 'carrier_name'),
    ('carrier_state', 'text', 'carrier_state'),
    ('carrier_city', 'text', 'carrier_city'),
    ('hazmat_placards_i', 'flag', 'is_hazmat_placarded'),
    ('hazmat_name', 'text', 'hazmat_name'),
    ('un_no', 'text', 'un_no'),
    ('hazmat_present_i', 'flag', 'is_hazmat_present'),
    ('hazmat_report_i', 'flag', 'is_hazmat_reported'),
    ('hazmat_report_no', 'text', 'hazmat_report_no'),
    ('mcs_report_i', 'flag', 'is_mcs_reported'),
    ('mcs_report_no', 'text', 'mcs_report_no'),
    ('hazmat_vio_cause_crash_i', 'flag', 'is_hazmat_violation_cause'),
    ('mcs_vio_cause_crash_i', 'flag', 'is_mcs_violation_cause'),
    ('idot_permit_no', 'text', 'idot_permit_no'),
    ('wide_load_i', 'flag', 'is_wide_load'),
    ('trailer1_width', 'text', 'trailer1_width'),
    ('trailer2_width', 'text', 'trailer2_width'),
    ('trailer1_length', 'double', 'trailer1_length'),
    ('trailer2_length', 'double', 'trailer2_length'),
    ('total_vehicle_length', 'double', 'total_vehicle_length'),
    ('axle_cnt', 'integer', 'axle_cnt'),
    ('vehicle_config', 'text', 'vehicle_config'),
    ('cargo_body_type', 'text', 'cargo_body_type'),
    ('load_type', 'text', 'load_type'),
    ('hazmat_out_of_service_i', 'flag', 'is_hazmat_out_of_service'),
    ('mcs_out_of_service_i', 'flag', 'is_mcs_out_of_service'),
    ('hazmat_class', 'text', 'hazmat_class'),
    ('socrata_updated_at', 'timestamp', 'source_updated_at'),
] -%}

with

source as (

    {{ latest_version(chicago_source('vehicles', spec | map('first') | list), 'crash_unit_id', 'vehicles') }}

),

renamed as (

    select
        crash_unit_id,
        {{- typed_columns(spec) }}
        {{ garbled_columns(spec) }} as garbled_columns,
        _dlt_load_id as load_id

    from source
    where {{ is_usable_row('vehicles') }}

)

select * from renamed
