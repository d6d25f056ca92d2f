{{
  config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['organization_id', 'activity_date'],
    indexes=[{'columns': ['organization_id', 'activity_date', 'user_id'], 'unique': True}],
  )
}}
-- Users who took part in (or started) a call, per organization and local day, for the days that had ended
-- by the night's end: the base of daily and monthly active users (distinct counts do not add up across
-- days, so months count from here). A run rebuilds the days of the night's window.
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

activity as (
    select
        organization_id,
        call_date as activity_date,
        user_id
    from participants
    where user_id is not null
        -- = any(array(...)): probe participants per call of the window instead of hashing all of them.
        and call_id = any(array(select c.call_id from calls as c))
    union
    select
        organization_id,
        call_date,
        initiated_by_user_id
    from calls
    where initiated_by_user_id is not null
),

final as (
    select distinct
        organization_id,
        activity_date,
        user_id
    from activity
)

select * from final
