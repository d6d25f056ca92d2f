{{
  config(
    materialized='materialized_view',
    persist_docs={'relation': true, 'columns': false},
    indexes=[{'columns': ['organization_id', 'usage_date'], 'unique': True}],
  )
}}
-- One row per organization and local day (the organization's time zone, macros/local_calendar.sql):
-- metered minutes, calls, AI calls by feature, storage, cost. The local dates are stored in the aggregates
-- below, so reading this view costs what it did with UTC days.
-- A materialized view over the incremental daily aggregates (org x day rows, not raw events), so its
-- refresh stays small; the unique index lets dashboards refresh it CONCURRENTLY.
-- Cost: the AI list cost of the day (price book); plan fees and overage are monthly (monthly_costs).
with ai_usage_daily as (
    select * from {{ ref('fct_ai_usage_daily') }}
),

usage_daily as (
    select * from {{ ref('int_usage_daily') }}
),

activity_daily as (
    select * from {{ ref('int_org_activity_daily') }}
),

ai as (
    select
        organization_id,
        usage_date,
        sum(requests)                                        as ai_calls,
        sum(requests) filter (where feature = 'stt')         as ai_calls_stt,
        sum(requests) filter (where feature = 'tts')         as ai_calls_tts,
        sum(requests) filter (where feature = 'llm')         as ai_calls_llm,
        sum(requests) filter (where feature = 'agents')      as ai_calls_agents,
        sum(list_cost_usd) filter (where feature = 'stt')    as ai_cost_stt_usd,
        sum(list_cost_usd) filter (where feature = 'tts')    as ai_cost_tts_usd,
        sum(list_cost_usd) filter (where feature = 'llm')    as ai_cost_llm_usd,
        sum(list_cost_usd) filter (where feature = 'agents') as ai_cost_agents_usd,
        sum(list_cost_usd)                                   as ai_cost_usd,
        sum(recorded_cost_usd)                               as ai_recorded_cost_usd
    from ai_usage_daily
    group by organization_id, usage_date
),

spine as (
    select
        organization_id,
        usage_date
    from usage_daily
    union
    select
        organization_id,
        activity_date
    from activity_daily
    union
    select
        organization_id,
        usage_date
    from ai
),

final as (
    select
        s.organization_id,
        s.usage_date,
        coalesce(u.call_minutes, 0)          as call_minutes,
        coalesce(c.calls, 0)                 as calls,
        coalesce(c.completed_calls, 0)       as completed_calls,
        coalesce(c.call_duration_minutes, 0) as call_duration_minutes,
        coalesce(c.active_users, 0)          as active_users,
        coalesce(a.ai_calls, 0)              as ai_calls,
        coalesce(a.ai_calls_stt, 0)          as ai_calls_stt,
        coalesce(a.ai_calls_tts, 0)          as ai_calls_tts,
        coalesce(a.ai_calls_llm, 0)          as ai_calls_llm,
        coalesce(a.ai_calls_agents, 0)       as ai_calls_agents,
        coalesce(u.metered_ai_calls, 0)      as metered_ai_calls,
        coalesce(u.recording_minutes, 0)     as recording_minutes,
        coalesce(u.transcription_minutes, 0) as transcription_minutes,
        coalesce(u.storage_gb_hours, 0)      as storage_gb_hours,
        coalesce(a.ai_cost_stt_usd, 0)       as ai_cost_stt_usd,
        coalesce(a.ai_cost_tts_usd, 0)       as ai_cost_tts_usd,
        coalesce(a.ai_cost_llm_usd, 0)       as ai_cost_llm_usd,
        coalesce(a.ai_cost_agents_usd, 0)    as ai_cost_agents_usd,
        coalesce(a.ai_cost_usd, 0)           as ai_cost_usd,
        coalesce(a.ai_recorded_cost_usd, 0)  as ai_recorded_cost_usd,
        coalesce(a.ai_cost_usd, 0)           as total_cost_usd
    from spine as s
    left join usage_daily as u
        on s.organization_id = u.organization_id and s.usage_date = u.usage_date
    left join activity_daily as c
        on s.organization_id = c.organization_id and s.usage_date = c.activity_date
    left join ai as a
        on s.organization_id = a.organization_id and s.usage_date = a.usage_date
)

select * from final
