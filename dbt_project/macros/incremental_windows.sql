{#- Incremental windows are computed before the model's query runs and inlined as literals: with a
    subquery instead, PostgreSQL cannot estimate how few rows the window holds and picks hash joins over
    whole tables, making the nightly cost grow with the history. -#}

{#- A scalar read from the model's own table, e.g. max(usage_date); `default` when the table is empty. -#}
{% macro scalar_from_this(expression, default) -%}
    {%- if execute -%}
        {%- set value = run_query("select coalesce((" ~ expression ~ ")::text, " ~ default ~ ") from " ~ this).columns[0].values()[0] -%}
        {{- value -}}
    {%- else -%}
        {{- default | replace("'", "") -}}
    {%- endif -%}
{%- endmacro %}

{#- First day an incremental model re-aggregates: `lookback_days` before the newest day it holds. -#}
{% macro lookback_start(date_column) -%}
    date '{{ scalar_from_this("max(" ~ date_column ~ ") - " ~ var("lookback_days"), "'1900-01-01'") }}'
{%- endmacro %}

{#- Newest timestamp the model processed minus `margin` (an interval literal), as a timestamptz literal. -#}
{% macro processed_since(timestamp_column, margin) -%}
    timestamptz '{{ scalar_from_this("max(" ~ timestamp_column ~ ") - interval '" ~ margin ~ "'", "'1900-01-01 00:00:00+00'") }}'
{%- endmacro %}
