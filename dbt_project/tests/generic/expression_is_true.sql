{#- A row-level rule that must hold for every row (optionally only where `where` holds). -#}
{% test expression_is_true(model, expression) %}

select *
from {{ model }}
where not coalesce({{ expression }}, false)

{% endtest %}
