{{ config(tags=['parity']) }}
-- monthly_costs (from daily aggregates) equals the billing function calculate_monthly_costs() (from
-- raw usage) for every organization and month it holds; rows returned are differences. Tagged
-- `parity`: it reads raw usage of whole months, so CI runs it and the nightly DAG skips it.
select m.organization_id, m.month, m.total_usd, f.total_usd as function_total_usd
from {{ ref('monthly_costs') }} as m
cross join lateral calculate_monthly_costs(m.organization_id, m.month) as f
where (m.plan, m.base_fee_usd, m.call_minutes, m.included_minutes, m.overage_minutes, m.overage_minutes_usd,
       m.ai_calls, m.included_ai_calls, m.overage_ai_calls, m.overage_ai_calls_usd, m.ai_provider_cost_usd,
       m.total_usd)
      is distinct from
      (f.plan, f.base_fee_usd, f.call_minutes, f.included_minutes, f.overage_minutes, f.overage_minutes_usd,
       f.ai_calls, f.included_ai_calls, f.overage_ai_calls, f.overage_ai_calls_usd, f.ai_provider_cost_usd,
       f.total_usd)
