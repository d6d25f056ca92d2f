{{
  config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='activity_date',
    indexes=[{'columns': ['organization_id', 'activity_date', 'user_id'], 'unique': True}],
  )
}}
-- Users who took part in (or started) a call, per organization and UTC day, up to the night's end: the
-- base of daily and monthly active users (distinct counts do not add up across days, so months count
-- from here). A run rebuilds the days of the night's window.
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
