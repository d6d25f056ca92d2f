{#- A generic test: non-null values of the column lie within [min_value, max_value]. -#}
{% test dbt_utils_free_between(model, column_name, min_value, max_value) %}
select {{ column_name }}
from {{ model }}
where {{ column_name }} is not null
  and ({{ column_name }} < {{ min_value }} or {{ column_name }} > {{ max_value }})
{% endtest %}
