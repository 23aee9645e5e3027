{#- How many of the `n` cut points in the list `edges` lie below `value`: the bin a value falls in
    (0 … n), as numpy's searchsorted(edges, value, side='left') counts it. -#}
{% macro count_below(value, edges, n) -%}
    ({% for i in range(1, n + 1) %}cast({{ value }} > {{ edges }}[{{ i }}] as integer){{ ' + ' if not loop.last }}{% endfor %})
{%- endmacro %}
