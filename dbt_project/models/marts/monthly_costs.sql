{{
  config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='month',
    indexes=[{'columns': ['organization_id', 'month'], 'unique': True}],
  )
}}
-- Monthly costs per organization and local month (the organization's time zone: a month is its local
-- days, as org_local_month_bounds() says), the input for invoices: the same rules as the SQL function
-- calculate_monthly_costs() (plan fee prorated by subscription days, allowances prorated and floored,
-- overage at the rates of the month's last plan unless it is hard-capped, provider cost of AI events),
-- computed from the daily aggregates instead of the raw usage so a night re-reads days, not months.
-- tests/assert_monthly_costs_match_billing_function.sql checks it against the function.
-- Usage counts up to the night's end. Rebuilt: the month(s) of the night's window, and any month that
-- received late usage.
with usage_daily as (
    select * from {{ ref('int_usage_daily') }}
    where usage_date < {{ interval_end_date() }}
),

periods as (
    select * from {{ ref('int_org_timezone_periods') }}
),

organizations as (
    -- Created and deleted on local days (org_local_date).
    select
        o.organization_id,
        o.plan,
        {{ local_date('o.created_at') }}       as created_date,
        {{ local_date('o.deleted_at', 'pd') }} as deleted_date
    from {{ ref('stg_organizations') }} as o
    inner join periods as p
        on o.organization_id = p.organization_id and {{ in_zone_period('o.created_at') }}
    left join periods as pd
        on o.organization_id = pd.organization_id and {{ in_zone_period('o.deleted_at', 'pd') }}
),

subscriptions as (
    -- Started and ended on local days, as billing_plan_segments() clips them.
    select
        s.organization_id,
        s.plan,
        {{ local_date('s.started_at') }}     as started_date,
        {{ local_date('s.ended_at', 'pe') }} as ended_date
    from {{ ref('stg_subscriptions') }} as s
    inner join periods as p
        on s.organization_id = p.organization_id and {{ in_zone_period('s.started_at') }}
    left join periods as pe
        on s.organization_id = pe.organization_id and {{ in_zone_period('s.ended_at', 'pe') }}
),

billing_plans as (
    select * from {{ ref('stg_billing_plans') }}
),

ai_usage_daily as (
    select * from {{ ref('fct_ai_usage_daily') }}
    where usage_date < {{ interval_end_date() }}
),

months as (
    select distinct date_trunc('month', usage_date)::date as month
    from usage_daily
    {% if is_incremental() %}
    where usage_date >= {{ local_window_start_date() }}
       or max_received_at > {{ processed_since('source_max_received_at', var('watermark_margin_minutes') ~ ' minutes') }}
    {% endif %}
),

org_months as (
    select
        o.organization_id,
        o.plan                               as organization_plan,
        m.month,
        (m.month + interval '1 month')::date as month_end
    from months as m
    inner join organizations as o
        on o.created_date < (m.month + interval '1 month')::date
            and (o.deleted_date is null or m.month <= o.deleted_date)
),

subscription_segments as (
    select
        om.organization_id,
        om.month,
        om.month_end,
        s.plan,
        greatest(s.started_date, om.month)                        as seg_start,
        least(coalesce(s.ended_date, om.month_end), om.month_end) as seg_end
    from org_months as om
    inner join subscriptions as s
        on om.organization_id = s.organization_id
            and om.month_end > s.started_date
            and coalesce(s.ended_date, om.month_end) > om.month
),

segments as (
    select * from subscription_segments
    union all
    -- An organization without subscription rows is billed on its plan for the whole month.
    select
        om.organization_id,
        om.month,
        om.month_end,
        om.organization_plan,
        om.month     as seg_start,
        om.month_end as seg_end
    from org_months as om
    where not exists (
            select 1 from subscription_segments as ss
            where ss.organization_id = om.organization_id and ss.month = om.month
        )
),

priced as (
    select
        sg.*,
        bp.monthly_fee_usd,
        bp.included_minutes,
        bp.included_ai_calls,
        bp.overage_per_minute_usd,
        bp.overage_per_ai_call_usd,
        bp.hard_capped,
        (sg.seg_end - sg.seg_start)::numeric / (sg.month_end - sg.month) as share
    from segments as sg
    inner join billing_plans as bp on sg.plan = bp.plan
    where sg.seg_end > sg.seg_start
),

last_plan as (
    select distinct on (organization_id, month)
        organization_id,
        month,
        plan,
        overage_per_minute_usd,
        overage_per_ai_call_usd,
        hard_capped
    from priced
    order by organization_id asc, month asc, seg_start desc
),

totals as (
    select
        organization_id,
        month,
        coalesce(sum(round(monthly_fee_usd * share, 2)), 0) as base_fee_usd,
        coalesce(floor(sum(included_minutes * share)), 0)   as included_minutes,
        coalesce(floor(sum(included_ai_calls * share)), 0)  as included_ai_calls
    from priced
    group by organization_id, month
),

usage as (
    select
        organization_id,
        date_trunc('month', usage_date)::date as month,
        sum(call_minutes)                     as call_minutes,
        sum(metered_ai_calls)                 as ai_calls,
        max(max_received_at)                  as source_max_received_at
    from usage_daily
    where date_trunc('month', usage_date)::date in (select m.month from months as m)
    group by 1, 2
),

ai as (
    select
        organization_id,
        date_trunc('month', usage_date)::date as month,
        sum(recorded_cost_usd)                as ai_provider_cost_usd,
        sum(list_cost_usd)                    as ai_list_cost_usd
    from ai_usage_daily
    where usage_date >= (select min(m.month) from months as m)
    group by 1, 2
),

costed as (
    select
        lp.organization_id,
        lp.month,
        lp.plan,
        t.base_fee_usd,
        coalesce(u.call_minutes, 0)                                   as call_minutes,
        t.included_minutes,
        greatest(coalesce(u.call_minutes, 0) - t.included_minutes, 0) as overage_minutes,
        lp.overage_per_minute_usd,
        coalesce(u.ai_calls, 0)                                       as ai_calls,
        t.included_ai_calls,
        greatest(coalesce(u.ai_calls, 0) - t.included_ai_calls, 0)    as overage_ai_calls,
        lp.overage_per_ai_call_usd,
        lp.hard_capped,
        coalesce(a.ai_provider_cost_usd, 0)                           as ai_provider_cost_usd,
        coalesce(a.ai_list_cost_usd, 0)                               as ai_list_cost_usd,
        u.source_max_received_at
    from last_plan as lp
    inner join totals as t using (organization_id, month)
    left join usage as u using (organization_id, month)
    left join ai as a using (organization_id, month)
),

charged as (
    select
        *,
        case when hard_capped then 0 else round(overage_minutes * overage_per_minute_usd, 2) end   as overage_minutes_usd,
        case when hard_capped then 0 else round(overage_ai_calls * overage_per_ai_call_usd, 2) end as overage_ai_calls_usd
    from costed
),

final as (
    select
        organization_id,
        month,
        plan,
        base_fee_usd,
        call_minutes,
        included_minutes,
        overage_minutes,
        overage_minutes_usd,
        ai_calls,
        included_ai_calls,
        overage_ai_calls,
        overage_ai_calls_usd,
        ai_provider_cost_usd,
        ai_list_cost_usd,
        base_fee_usd + overage_minutes_usd + overage_ai_calls_usd as total_usd,
        source_max_received_at
    from charged
)

select * from final
