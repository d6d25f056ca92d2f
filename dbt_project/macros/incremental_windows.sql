{#- First day an incremental model re-aggregates: `lookback_days` before the newest day it holds. -#}
{% macro lookback_start(date_column) -%}
    (select coalesce(max({{ date_column }}), date '1900-01-01') - {{ var('lookback_days') }} from {{ this }})
{%- endmacro %}
