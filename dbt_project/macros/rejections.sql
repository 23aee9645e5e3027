{#- Rows staging cannot use: the latest version of a record lacks a value its dataset requires
    (`var('chicago_datasets')`: a crash's crash_date, a unit's or person's crash_record_id) or has
    one that cannot be typed (a crash_date that is no timestamp). Such a row stays in raw, is left
    out of staging and so of every fact, and is listed in dq_rejected_records: one bad row never
    stops gold. A broken key is no rejection: it still fails the build. -#}

{% macro required_columns(dataset) -%}
    {{ return(var('chicago_datasets')[dataset]['required']) }}
{%- endmacro %}

{% macro is_unusable(column, kind) -%}
    ({{ _present(column) }} is null or {{ is_garbled(column, kind) }})
{%- endmacro %}

{% macro rejection_reason(column, kind) -%}
    case
        when {{ _present(column) }} is null then 'missing {{ column }}'
        when {{ is_garbled(column, kind) }} then 'unparseable {{ column }}'
    end
{%- endmacro %}

{#- A filter on raw's columns: true for the rows staging keeps. -#}
{% macro is_usable_row(dataset) -%}
    not (
        {%- for column, kind in required_columns(dataset) %}
        {{ is_unusable(column, kind) }}{{ " or" if not loop.last }}
        {%- endfor %}
    )
{%- endmacro %}

{#- A post-hook for incremental facts: they merge what staging gives them, so a record whose
    newer version staging now rejects would keep its older row. Delete it, as a full refresh
    never builds it (the model must declare `-- depends_on` the rejected-records view). -#}
{% macro drop_rejected_rows(dataset) -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where {{ var('chicago_datasets')[dataset]['key'] }} in (
            select rejected.record_key from {{ ref('stg_chicago__rejected_records') }} as rejected
            where rejected.dataset = '{{ dataset }}'
        )
    {%- endif -%}
{%- endmacro %}
