{{
  config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['organization_id', 'usage_date'],
    on_schema_change='append_new_columns',
    indexes=[{'columns': ['usage_date', 'organization_id'], 'unique': True}],
  )
}}
-- Metered usage per organization and local day (its time zone, macros/local_calendar.sql), for the days
-- that had ended by the night's end. Each run replaces whole days: the days that ended in the night and
-- `lookback_days` before them, and every older day that received rows since the previous run (late rows
-- of any age), found through usage_records.received_at; so a night's cost follows the new data, not the
-- history. The first run builds every ended day before the night's end. Replaced per (organization, day):
-- a re-run of an older night leaves the days a later night built for zones west of UTC (not ended then).
-- not materialized: read in several CTEs below, PostgreSQL would otherwise copy the whole table
-- once instead of reading the night's rows through its indexes.
with usage_records as not materialized (
    select * from {{ ref('stg_usage_records') }}
),

periods as (
    select * from {{ ref('int_org_timezone_periods') }}
),

night_ends as (
    {{ night_end_dates('periods') }}
),

{% if is_incremental() %}
late_days as (
    select distinct {{ local_date('u.recorded_at') }} as usage_date
    from usage_records as u
    inner join periods as p
        on u.organization_id = p.organization_id and {{ in_zone_period('u.recorded_at') }}
    where u.received_at > {{ processed_since('max_received_at', var('watermark_margin_minutes') ~ ' minutes') }}
        and u.recorded_at < {{ interval_end() }}
),

dated as (
    -- The night's window, read once.
    select
        u.organization_id,
        u.metric,
        u.quantity,
        u.received_at,
        {{ local_date('u.recorded_at') }} as usage_date
    from usage_records as u
    inner join periods as p
        on u.organization_id = p.organization_id and {{ in_zone_period('u.recorded_at') }}
    where u.recorded_at >= {{ local_day_read_start(local_window_start_date()) }}
        and u.recorded_at < {{ interval_end() }}
        and {{ local_date('u.recorded_at') }} >= {{ local_window_start_date() }}
    union all
    -- Older days with late rows, one day at a time (each row joins the one day it is dated on).
    select
        u.organization_id,
        u.metric,
        u.quantity,
        u.received_at,
        d.usage_date
    from late_days as d
    inner join usage_records as u
        on u.recorded_at >= {{ local_day_read_start('d.usage_date') }}
        and u.recorded_at < {{ local_day_read_end('d.usage_date') }}
    inner join periods as p
        on u.organization_id = p.organization_id and {{ in_zone_period('u.recorded_at') }}
    where d.usage_date < {{ local_window_start_date() }}
        and u.recorded_at < {{ interval_end() }}
        and {{ local_date('u.recorded_at') }} = d.usage_date
),
{% else %}
    dated as (
        select
            u.organization_id,
            u.metric,
            u.quantity,
            u.received_at,
            {{ local_date('u.recorded_at') }} as usage_date
        from usage_records as u
        inner join periods as p
            on u.organization_id = p.organization_id and {{ in_zone_period('u.recorded_at') }}
        where u.recorded_at < {{ interval_end() }}
    ),
{% endif %}

usage as (
    select d.*
    from dated as d
    inner join night_ends as n on d.organization_id = n.organization_id
    where d.usage_date < n.end_date
),

final as (
    select
        organization_id,
        usage_date,
        coalesce(sum(quantity) filter (where metric = 'call_minutes'), 0)          as call_minutes,
        coalesce(sum(quantity) filter (where metric = 'ai_calls'), 0)              as metered_ai_calls,
        coalesce(sum(quantity) filter (where metric = 'recording_minutes'), 0)     as recording_minutes,
        coalesce(sum(quantity) filter (where metric = 'transcription_minutes'), 0) as transcription_minutes,
        coalesce(sum(quantity) filter (where metric = 'storage_gb_hours'), 0)      as storage_gb_hours,
        coalesce(max(quantity) filter (where metric = 'seats'), 0)                 as seats,
        count(*)                                                                   as usage_records,
        max(received_at)                                                           as max_received_at
    from usage
    group by organization_id, usage_date
)

select * from final
