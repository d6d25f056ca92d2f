{#- A generic test: the combination of `columns` is unique (dbt_utils' unique_combination_of_columns,
    without adding a package dependency that would need a download). -#}
{% test dbt_utils_free_unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as n
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
