{#- Staging types every raw VARCHAR from one spec per dataset: a list of
    (raw column, kind, staged name) with kind one of text, integer, double, timestamp, flag.
    One spec drives both the casts and the garbled-value list, so they cannot drift apart.

    A garbled value (present but not castable, or a flag that is not Y, N or U for unknown)
    becomes null (false for flags) and its column name goes into `garbled_columns`, which the data-quality
    mart counts: a bad value never fails the build and is never silently lost. -#}

{#- Empty means missing. No trim(): Socrata does not pad values, and trimming every string of
    millions of rows was the single largest cost of a build. -#}
{% macro _present(column) -%}
    nullif({{ column }}, '')
{%- endmacro %}

{% macro typed_value(column, kind) -%}
    {%- if kind == 'text' -%}
        {{ _present(column) }}
    {%- elif kind == 'flag' -%}
        coalesce(upper({{ _present(column) }}) = 'Y', false)
    {%- elif kind in ('integer', 'double', 'timestamp') -%}
        try_cast({{ _present(column) }} as {{ kind }})
    {%- else -%}
        {{ exceptions.raise_compiler_error("unknown column kind '" ~ kind ~ "' for " ~ column) }}
    {%- endif -%}
{%- endmacro %}

{% macro is_garbled(column, kind) -%}
    {%- if kind == 'flag' -%}
        coalesce(upper({{ _present(column) }}) not in ('Y', 'N', 'U'), false)
    {%- elif kind in ('integer', 'double', 'timestamp') -%}
        ({{ _present(column) }} is not null and {{ typed_value(column, kind) }} is null)
    {%- else -%}
        false
    {%- endif -%}
{%- endmacro %}

{% macro typed_columns(spec) -%}
    {%- for column, kind, name in spec %}
        {{ typed_value(column, kind) }} as {{ name }},
    {%- endfor %}
{%- endmacro %}

{#- The list is built only for rows with a garbled value (CASE evaluates its branch on those
    rows alone), so clean rows cost a few vectorised predicates and a constant empty list. -#}
{% macro garbled_columns(spec) -%}
    {%- set checks = [] -%}
    {%- for column, kind, name in spec if kind != 'text' -%}
        {%- do checks.append((is_garbled(column, kind), name)) -%}
    {%- endfor -%}
    {%- if checks -%}
        case
            when {% for check, _ in checks %}{{ check }}{{ " or " if not loop.last }}{% endfor %}
                then list_filter(
                    [{% for check, name in checks %}case when {{ check }} then '{{ name }}' end{{ ", " if not loop.last }}{% endfor %}],
                    lambda x: x is not null
                )
            else []::varchar[]
        end
    {%- else -%}
        []::varchar[]
    {%- endif -%}
{%- endmacro %}
