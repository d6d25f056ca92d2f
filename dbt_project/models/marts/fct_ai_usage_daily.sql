{{
  config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='usage_date',
    on_schema_change='append_new_columns',
    indexes=[{'columns': ['organization_id', 'usage_date', 'feature', 'provider', 'model'], 'unique': True}],
  )
}}
-- AI usage and cost per organization, UTC day, feature, provider and model, up to the night's end: list
-- cost from the price book and the cost recorded with each event. The ai_usage_costs job upserts it into
-- ai_usage_analytics. A run replaces the night's window and every older day that received events since
-- the previous run (late events of any age, by ai_usage.received_at), like int_usage_daily.
with priced_events as (
    select * from {{ ref('int_ai_usage_priced') }}
),

{% if is_incremental() %}
days_to_rebuild as (
    select d::date as usage_date
    from generate_series({{ window_start_date() }}, {{ interval_end_date() }} - 1, interval '1 day') as d
    union
    select distinct usage_date
    from priced_events
    where received_at > {{ processed_since('max_received_at', var('watermark_margin_minutes') ~ ' minutes') }}
      and occurred_at < {{ interval_end() }}
),

events as (
    select e.*
    from priced_events as e
    join days_to_rebuild as d
      on e.occurred_at >= (d.usage_date::timestamp at time zone 'UTC')
     and e.occurred_at < ((d.usage_date + 1)::timestamp at time zone 'UTC')
),
{% else %}
    events as (
        select * from priced_events
        where occurred_at < {{ interval_end() }}
    ),
{% endif %}

final as (
    select
        organization_id,
        usage_date,
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
    group by organization_id, usage_date, feature, provider, model
)

select * from final
