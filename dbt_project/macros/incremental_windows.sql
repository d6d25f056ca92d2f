{#- The night a run processes, and the windows incremental models rebuild.

    Orchestrators pass the night as --vars {interval_start, interval_end} (ISO timestamps, UTC; see
    auralink.analytics.dbt_runner.interval_vars). A plain `dbt build` without them processes the UTC day
    that ended last midnight, like `auralink jobs run dbt_build`. Nothing at or after interval_end is
    read, so a run for day D writes no row for a later day, and a cold run for D builds all history up to D.

    Windows are computed before the model's query runs and inlined as literals: with a subquery instead,
    PostgreSQL cannot estimate how few rows the window holds and picks hash joins over whole tables,
    making the nightly cost grow with the history. -#}

{% macro _night_bounds() -%}
    {%- set end = var('interval_end', none) -%}
    {%- if end -%}
        {%- set end_ts = modules.datetime.datetime.fromisoformat(end) -%}
    {%- else -%}
        {%- set now = modules.datetime.datetime.now(modules.pytz.utc) -%}
        {%- set end_ts = modules.datetime.datetime(now.year, now.month, now.day, tzinfo=modules.pytz.utc) -%}
    {%- endif -%}
    {%- set start = var('interval_start', none) -%}
    {%- set start_ts = modules.datetime.datetime.fromisoformat(start) if start else end_ts - modules.datetime.timedelta(days=1) -%}
    {{- return({'start': start_ts, 'end': end_ts}) -}}
{%- endmacro %}

{#- The night's end, exclusive, as a timestamptz literal. -#}
{% macro interval_end() -%}
    timestamptz '{{ _night_bounds()['end'].isoformat() }}'
{%- endmacro %}

{#- The first day not processed (the day after the night), as a date literal: `usage_date < interval_end_date()`. -#}
{% macro interval_end_date() -%}
    date '{{ _night_bounds()['end'].date().isoformat() }}'
{%- endmacro %}

{#- First day an incremental run rebuilds: `lookback_days` before the night starts (calls spanning midnight,
    telemetry that trails a call), as a date literal. -#}
{% macro window_start_date() -%}
    date '{{ (_night_bounds()['start'] - modules.datetime.timedelta(days=var('lookback_days'))).date().isoformat() }}'
{%- endmacro %}

{#- The same day as a timestamptz literal (its UTC midnight). -#}
{% macro window_start() -%}
    ({{ window_start_date() }}::timestamp at time zone 'UTC')
{%- endmacro %}

{#- A scalar read from the model's own table, e.g. max(max_received_at); `default` when the table is empty. -#}
{% macro scalar_from_this(expression, default) -%}
    {%- if execute -%}
        {%- set value = run_query("select coalesce((" ~ expression ~ ")::text, " ~ default ~ ") from " ~ this).columns[0].values()[0] -%}
        {{- value -}}
    {%- else -%}
        {{- default | replace("'", "") -}}
    {%- endif -%}
{%- endmacro %}

{#- Newest arrival time the model processed minus `margin` (an interval literal), as a timestamptz literal:
    rows that arrived after it are late rows, of any age, whose days are rebuilt. -#}
{% macro processed_since(timestamp_column, margin) -%}
    timestamptz '{{ scalar_from_this("max(" ~ timestamp_column ~ ") - interval '" ~ margin ~ "'", "'1900-01-01 00:00:00+00'") }}'
{%- endmacro %}
