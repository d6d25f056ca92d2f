{{
  config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='activity_date',
    indexes=[{'columns': ['organization_id', 'activity_date'], 'unique': True}],
  )
}}
-- Calls, call time, participants, active users, members and call quality per organization and UTC day
-- (every day with calls or metered usage), up to the night's end; a run rebuilds the night's window.
with calls as (
    select *
    from {{ ref('stg_calls') }}
    where started_at < {{ interval_end() }}
    {% if is_incremental() %}
      and started_at >= {{ window_start() }}
    {% endif %}
),

participants as (
    select * from {{ ref('int_call_participants_enriched') }}
),

active_users as (
    select *
    from {{ ref('int_active_users_daily') }}
    where activity_date < {{ interval_end_date() }}
    {% if is_incremental() %}
      and activity_date >= {{ window_start_date() }}
    {% endif %}
),

participant_quality as (
    select * from {{ ref('int_call_participant_quality') }}
),

usage_daily as (
    select *
    from {{ ref('int_usage_daily') }}
    where usage_date < {{ interval_end_date() }}
    {% if is_incremental() %}
      and usage_date >= {{ window_start_date() }}
    {% endif %}
),

members as (
    select * from {{ ref('stg_organization_members') }}
),

calls_daily as (
    select
        organization_id,
        call_date                                           as activity_date,
        count(*)                                            as calls,
        count(*) filter (where call_status = 'completed')   as completed_calls,
        count(*) filter (where call_status = 'failed')      as failed_calls,
        round(coalesce(sum(duration_seconds), 0) / 60.0, 2) as call_duration_minutes
    from calls
    group by 1, 2
),

participants_daily as (
    select
        p.organization_id,
        p.call_date as activity_date,
        count(*)    as participants
    from participants as p
    where p.call_id in (select c.call_id from calls as c)
    group by 1, 2
),

active_daily as (
    select
        organization_id,
        activity_date,
        count(*) as active_users
    from active_users
    group by 1, 2
),

quality_daily as (
    select
        q.organization_id,
        q.call_date                       as activity_date,
        sum(q.scored_samples)             as quality_samples,
        sum(q.avg_mos * q.scored_samples) as mos_sum
    from participant_quality as q
    where q.call_id in (select c.call_id from calls as c)
        and q.scored_samples > 0
    group by 1, 2
),

spine as (
    select
        organization_id,
        activity_date
    from calls_daily
    union
    select
        organization_id,
        activity_date
    from active_daily
    union
    select
        organization_id,
        usage_date
    from usage_daily
),

final as (
    select
        s.organization_id,
        s.activity_date,
        coalesce(c.calls, 0)                 as calls,
        coalesce(c.completed_calls, 0)       as completed_calls,
        coalesce(c.failed_calls, 0)          as failed_calls,
        coalesce(c.call_duration_minutes, 0) as call_duration_minutes,
        coalesce(p.participants, 0)          as participants,
        coalesce(a.active_users, 0)          as active_users,
        (
            select count(*) from members as m
            where m.organization_id = s.organization_id
                and m.joined_at < ((s.activity_date + 1)::timestamp at time zone 'UTC')
                and (m.left_at is null or m.left_at >= ((s.activity_date + 1)::timestamp at time zone 'UTC'))
        )                                    as members,
        coalesce(q.quality_samples, 0)       as quality_samples,
        q.mos_sum
    from spine as s
    left join calls_daily as c using (organization_id, activity_date)
    left join participants_daily as p using (organization_id, activity_date)
    left join active_daily as a using (organization_id, activity_date)
    left join quality_daily as q using (organization_id, activity_date)
)

select * from final
