{{ config(
    materialized='incremental',
    unique_key='crash_unit_id',
    incremental_strategy='merge',
    on_schema_change='append_new_columns',
    post_hook="{{ drop_rejected_rows('vehicles') }}",
) }}
{#- One row per unit in a crash, typed; linked to its crash on crash_record_id. Units whose
    crash is not (yet) in the warehouse are kept: the relationship test counts them. -#}
-- depends_on: {{ ref('stg_chicago__rejected_records') }}
with

vehicles as (

    select * from {{ ref('stg_chicago__vehicles') }}
    {% if is_incremental() %}
    where {{ newer_loads('load_id') }}
    {% endif %}

),

final as (

    select
        cast(crash_unit_id as varchar) as crash_unit_id,
        cast(crash_record_id as varchar) as crash_record_id,
        cast(vehicle_id as varchar) as vehicle_id,
        cast(crash_ts as timestamp) as crash_ts,
        cast(unit_no as integer) as unit_no,
        cast(unit_type as varchar) as unit_type,
        cast(num_passengers as integer) as num_passengers,
        cast(occupant_cnt as integer) as occupant_cnt,
        cast(is_commercial_vehicle as boolean) as is_commercial_vehicle,
        cast(vehicle_make as varchar) as vehicle_make,
        cast(vehicle_model as varchar) as vehicle_model,
        cast(lic_plate_state as varchar) as lic_plate_state,
        cast(vehicle_year as integer) as vehicle_year,
        cast(vehicle_defect as varchar) as vehicle_defect,
        cast(vehicle_type as varchar) as vehicle_type,
        cast(vehicle_use as varchar) as vehicle_use,
        cast(travel_direction as varchar) as travel_direction,
        cast(maneuver as varchar) as maneuver,
        cast(first_contact_point as varchar) as first_contact_point,
        cast(is_towed as boolean) as is_towed,
        cast(towed_by as varchar) as towed_by,
        cast(towed_to as varchar) as towed_to,
        cast(is_fire as boolean) as is_fire,
        cast(is_exceeding_speed_limit as boolean) as is_exceeding_speed_limit,
        {%- for area in ['00', '01', '02', '03', '04', '05', '06', '07', '08', '09', '10', '11', '12', '99'] %}
        cast(is_area_{{ area }}_damaged as boolean) as is_area_{{ area }}_damaged,
        {%- endfor %}
        cast(cmv_id as varchar) as cmv_id,
        cast(usdot_no as varchar) as usdot_no,
        cast(ccmc_no as varchar) as ccmc_no,
        cast(ilcc_no as varchar) as ilcc_no,
        cast(commercial_src as varchar) as commercial_src,
        cast(gvwr as varchar) as gvwr,
        cast(carrier_name as varchar) as carrier_name,
        cast(carrier_state as varchar) as carrier_state,
        cast(carrier_city as varchar) as carrier_city,
        cast(vehicle_config as varchar) as vehicle_config,
        cast(cargo_body_type as varchar) as cargo_body_type,
        cast(load_type as varchar) as load_type,
        cast(idot_permit_no as varchar) as idot_permit_no,
        cast(is_wide_load as boolean) as is_wide_load,
        cast(trailer1_width as varchar) as trailer1_width,
        cast(trailer2_width as varchar) as trailer2_width,
        cast(trailer1_length as double) as trailer1_length,
        cast(trailer2_length as double) as trailer2_length,
        cast(total_vehicle_length as double) as total_vehicle_length,
        cast(axle_cnt as integer) as axle_cnt,
        cast(is_hazmat_placarded as boolean) as is_hazmat_placarded,
        cast(is_hazmat_present as boolean) as is_hazmat_present,
        cast(hazmat_name as varchar) as hazmat_name,
        cast(hazmat_class as varchar) as hazmat_class,
        cast(un_no as varchar) as un_no,
        cast(is_hazmat_reported as boolean) as is_hazmat_reported,
        cast(hazmat_report_no as varchar) as hazmat_report_no,
        cast(is_hazmat_violation_cause as boolean) as is_hazmat_violation_cause,
        cast(is_hazmat_out_of_service as boolean) as is_hazmat_out_of_service,
        cast(is_mcs_reported as boolean) as is_mcs_reported,
        cast(mcs_report_no as varchar) as mcs_report_no,
        cast(is_mcs_violation_cause as boolean) as is_mcs_violation_cause,
        cast(is_mcs_out_of_service as boolean) as is_mcs_out_of_service,
        cast(garbled_columns as varchar[]) as garbled_columns,
        cast(source_updated_at as timestamp) as source_updated_at,
        cast(load_id as varchar) as load_id,
        cast(load_id as varchar) as last_load_id

    from vehicles

)

select * from final
