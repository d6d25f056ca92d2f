{{
  config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['organization_id', 'usage_date'],
    on_schema_change='append_new_columns',
    indexes=[{'columns': ['organization_id', 'usage_date', 'feature', 'provider', 'model'], 'unique': True}],
  )
}}
-- AI usage and cost per organization, local day (its time zone, macros/local_calendar.sql), feature,
-- provider and model, for the days that had ended by the night's end: list cost from the price book and
-- the cost recorded with each event. The ai_usage_costs job upserts it into ai_usage_analytics. A run
-- replaces the days that ended in the night and `lookback_days` before them, and every older day that
-- received events since the previous run (late events of any age, by ai_usage.received_at), like
-- int_usage_daily.
-- not materialized: read in several CTEs below, PostgreSQL would otherwise copy the whole table
-- once instead of reading the night's rows through its indexes.
with priced_events as not materialized (
    select * from {{ ref('int_ai_usage_priced') }}
),

periods as (
    select * from {{ ref('int_org_timezone_periods') }}
),

night_ends as (
    {{ night_end_dates('periods') }}
),

{% if is_incremental() %}
late_days as (
    select distinct {{ local_date('e.occurred_at') }} as usage_date
    from priced_events as e
    inner join periods as p
        on e.organization_id = p.organization_id and {{ in_zone_period('e.occurred_at') }}
    where e.received_at > {{ processed_since('max_received_at', var('watermark_margin_minutes') ~ ' minutes') }}
        and e.occurred_at < {{ interval_end() }}
),

dated as (
    select
        e.*,
        {{ local_date('e.occurred_at') }} as local_date
    from priced_events as e
    inner join periods as p
        on e.organization_id = p.organization_id and {{ in_zone_period('e.occurred_at') }}
    where e.occurred_at >= {{ local_day_read_start(local_window_start_date()) }}
        and e.occurred_at < {{ interval_end() }}
        and {{ local_date('e.occurred_at') }} >= {{ local_window_start_date() }}
    union all
    select
        e.*,
        d.usage_date as local_date
    from late_days as d
    inner join priced_events as e
        on e.occurred_at >= {{ local_day_read_start('d.usage_date') }}
        and e.occurred_at < {{ local_day_read_end('d.usage_date') }}
    inner join periods as p
        on e.organization_id = p.organization_id and {{ in_zone_period('e.occurred_at') }}
    where d.usage_date < {{ local_window_start_date() }}
        and e.occurred_at < {{ interval_end() }}
        and {{ local_date('e.occurred_at') }} = d.usage_date
),
{% else %}
    dated as (
        select
            e.*,
            {{ local_date('e.occurred_at') }} as local_date
        from priced_events as e
        inner join periods as p
            on e.organization_id = p.organization_id and {{ in_zone_period('e.occurred_at') }}
        where e.occurred_at < {{ interval_end() }}
    ),
{% endif %}

events as (
    select d.*
    from dated as d
    inner join night_ends as n on d.organization_id = n.organization_id
    where d.local_date < n.end_date
),

final as (
    select
        organization_id,
        local_date                            as usage_date,
        feature,
        provider,
        model,
        count(*)                              as requests,
        sum(units)                            as units,
        sum(input_tokens)::bigint             as input_tokens,
        sum(output_tokens)::bigint            as output_tokens,
        sum(recorded_cost_usd)                as recorded_cost_usd,
        coalesce(sum(list_cost_usd), 0)       as list_cost_usd,
        count(*) filter (where not is_priced) as unpriced_events,
        max(received_at)                      as max_received_at
    from events
    group by organization_id, local_date, feature, provider, model
)

select * from final
