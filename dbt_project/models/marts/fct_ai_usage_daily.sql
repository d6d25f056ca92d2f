{{
  config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='usage_date',
    indexes=[{'columns': ['organization_id', 'usage_date', 'feature', 'provider', 'model'], 'unique': True}],
  )
}}
-- AI usage and cost per organization, UTC day, feature, provider and model: list cost from the price
-- book and the cost recorded with each event. The ai_usage_costs job upserts it into ai_usage_analytics.
-- ai_usage has no arrival time, so late events are caught within the `lookback_days` window.
select
    organization_id,
    usage_date,
    feature,
    provider,
    model,
    count(*)                                 as requests,
    sum(units)                               as units,
    sum(input_tokens)::bigint                as input_tokens,
    sum(output_tokens)::bigint               as output_tokens,
    sum(recorded_cost_usd)                   as recorded_cost_usd,
    coalesce(sum(list_cost_usd), 0)          as list_cost_usd,
    count(*) filter (where not is_priced)    as unpriced_events
from {{ ref('int_ai_usage_priced') }}
{% if is_incremental() %}
where occurred_at >= ({{ lookback_start('usage_date') }}::timestamp at time zone 'UTC')
{% endif %}
group by organization_id, usage_date, feature, provider, model
