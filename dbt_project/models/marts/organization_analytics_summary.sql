{{
  config(
    materialized='materialized_view',
    persist_docs={'relation': true, 'columns': false},
    indexes=[{'columns': ['organization_id', 'period_type', 'period_start'], 'unique': True}],
  )
}}
-- One row per organization and period ('day' and 'month' of the organization's local calendar): users
-- (members at the period's end), active users, calls, minutes, average MOS, AI cost by feature, total
-- cost; months add what the invoice bills. Built on daily_usage_summary and the daily aggregates, never on
-- raw events; a month is its local days, as a billing month is.
with activity as (
    select * from {{ ref('int_org_activity_daily') }}
),

usage_summary as (
    select * from {{ ref('daily_usage_summary') }}
),

active_users_monthly as (
    select * from {{ ref('int_active_users_monthly') }}
),

monthly_costs as (
    select * from {{ ref('monthly_costs') }}
),

organizations as (
    select * from {{ ref('stg_organizations') }}
),

days as (
    select
        d.organization_id,
        'day'::text                    as period_type,
        d.usage_date                   as period_start,
        d.usage_date + 1               as period_end,
        coalesce(a.members, 0)         as users,
        d.active_users,
        d.calls,
        d.call_minutes,
        d.call_duration_minutes,
        coalesce(a.quality_samples, 0) as quality_samples,
        a.mos_sum,
        d.ai_calls,
        d.ai_cost_stt_usd,
        d.ai_cost_tts_usd,
        d.ai_cost_llm_usd,
        d.ai_cost_agents_usd,
        d.ai_cost_usd,
        d.total_cost_usd,
        null::numeric                  as billed_usd
    from usage_summary as d
    left join activity as a
        on d.organization_id = a.organization_id and d.usage_date = a.activity_date
),

monthly_active as (
    select
        organization_id,
        activity_month as month,
        active_users
    from active_users_monthly
),

month_end_members as (
    select distinct on (organization_id, date_trunc('month', activity_date))
        organization_id,
        date_trunc('month', activity_date)::date as month,
        members
    from activity
    order by organization_id asc, date_trunc('month', activity_date) asc, activity_date desc
),

months as (
    select
        d.organization_id,
        'month'::text                                                    as period_type,
        date_trunc('month', d.period_start)::date                        as period_start,
        (date_trunc('month', d.period_start) + interval '1 month')::date as period_end,
        sum(d.calls)                                                     as calls,
        sum(d.call_minutes)                                              as call_minutes,
        sum(d.call_duration_minutes)                                     as call_duration_minutes,
        sum(d.quality_samples)                                           as quality_samples,
        sum(d.mos_sum)                                                   as mos_sum,
        sum(d.ai_calls)                                                  as ai_calls,
        sum(d.ai_cost_stt_usd)                                           as ai_cost_stt_usd,
        sum(d.ai_cost_tts_usd)                                           as ai_cost_tts_usd,
        sum(d.ai_cost_llm_usd)                                           as ai_cost_llm_usd,
        sum(d.ai_cost_agents_usd)                                        as ai_cost_agents_usd,
        sum(d.ai_cost_usd)                                               as ai_cost_usd,
        sum(d.total_cost_usd)                                            as total_cost_usd
    from days as d
    group by 1, 2, 3, 4
),

periods as (
    select
        organization_id,
        period_type,
        period_start,
        period_end,
        users,
        active_users,
        calls,
        call_minutes,
        call_duration_minutes,
        quality_samples,
        mos_sum,
        ai_calls,
        ai_cost_stt_usd,
        ai_cost_tts_usd,
        ai_cost_llm_usd,
        ai_cost_agents_usd,
        ai_cost_usd,
        total_cost_usd,
        billed_usd
    from days
    union all
    select
        m.organization_id,
        m.period_type,
        m.period_start,
        m.period_end,
        coalesce(e.members, 0)       as users,
        coalesce(ma.active_users, 0) as active_users,
        m.calls,
        m.call_minutes,
        m.call_duration_minutes,
        m.quality_samples,
        m.mos_sum,
        m.ai_calls,
        m.ai_cost_stt_usd,
        m.ai_cost_tts_usd,
        m.ai_cost_llm_usd,
        m.ai_cost_agents_usd,
        m.ai_cost_usd,
        m.total_cost_usd,
        mc.total_usd
    from months as m
    left join month_end_members as e on m.organization_id = e.organization_id and m.period_start = e.month
    left join monthly_active as ma on m.organization_id = ma.organization_id and m.period_start = ma.month
    left join monthly_costs as mc on m.organization_id = mc.organization_id and m.period_start = mc.month
),

final as (
    select
        p.organization_id,
        o.organization_name,
        o.plan,
        p.period_type,
        p.period_start,
        p.period_end,
        p.users,
        p.active_users,
        p.calls,
        p.call_minutes,
        p.call_duration_minutes,
        p.quality_samples,
        round(p.mos_sum / nullif(p.quality_samples, 0), 4) as avg_mos,
        p.ai_calls,
        p.ai_cost_stt_usd,
        p.ai_cost_tts_usd,
        p.ai_cost_llm_usd,
        p.ai_cost_agents_usd,
        p.ai_cost_usd,
        p.total_cost_usd,
        p.billed_usd
    from periods as p
    inner join organizations as o on p.organization_id = o.organization_id
)

select * from final
