{{
  config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['organization_id', 'activity_date'],
    indexes=[{'columns': ['organization_id', 'activity_date'], 'unique': True}],
  )
}}
-- Calls, call time, participants, active users, members and call quality per organization and local day
-- (every day with calls or metered usage), for the days that had ended by the night's end; a run rebuilds
-- the night's window. A call's quality counts on the local day the call started.
with periods as (
    select * from {{ ref('int_org_timezone_periods') }}
),

night_ends as (
    {{ night_end_dates('periods') }}
),

calls as (
    select c.*
    from {{ ref('int_calls_local') }} as c
    inner join night_ends as n on c.organization_id = n.organization_id
    where c.started_at < {{ interval_end() }}
        and c.call_date < n.end_date
    {% if is_incremental() %}
        and c.started_at >= {{ local_day_read_start(local_window_start_date()) }}
        and c.call_date >= {{ local_window_start_date() }}
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
      and activity_date >= {{ local_window_start_date() }}
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
      and usage_date >= {{ local_window_start_date() }}
    {% endif %}
),

members as (
    -- Joined and left on local days: a member counts on the days from the one they joined to the one
    -- before they left.
    select
        m.organization_id,
        {{ local_date('m.joined_at') }}     as joined_date,
        {{ local_date('m.left_at', 'pl') }} as left_date
    from {{ ref('stg_organization_members') }} as m
    inner join periods as p
        on m.organization_id = p.organization_id and {{ in_zone_period('m.joined_at') }}
    left join periods as pl
        on m.organization_id = pl.organization_id and {{ in_zone_period('m.left_at', 'pl') }}
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
        c.organization_id,
        c.call_date                       as activity_date,
        sum(q.scored_samples)             as quality_samples,
        sum(q.avg_mos * q.scored_samples) as mos_sum
    from participant_quality as q
    inner join calls as c on q.call_id = c.call_id
    where q.scored_samples > 0
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
                and m.joined_date <= s.activity_date
                and (m.left_date is null or m.left_date > s.activity_date)
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
