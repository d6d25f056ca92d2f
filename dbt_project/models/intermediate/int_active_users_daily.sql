{{
  config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='activity_date',
    indexes=[{'columns': ['organization_id', 'activity_date', 'user_id'], 'unique': True}],
  )
}}
-- Users who took part in (or started) a call, per organization and UTC day: the base of daily and
-- monthly active users (distinct counts do not add up across days, so months count from here).
with activity as (
    select organization_id, call_date as activity_date, user_id
    from {{ ref('int_call_participants_enriched') }}
    where user_id is not null
    {% if is_incremental() %}
      -- = any(array(...)): probe participants per recent call instead of hashing all of them.
      and call_id = any(array(
          select call_id from {{ ref('stg_calls') }}
          where started_at >= ({{ lookback_start('activity_date') }}::timestamp at time zone 'UTC')))
    {% endif %}
    union
    select organization_id, call_date, initiated_by_user_id
    from {{ ref('stg_calls') }}
    where initiated_by_user_id is not null
    {% if is_incremental() %}
      and started_at >= ({{ lookback_start('activity_date') }}::timestamp at time zone 'UTC')
    {% endif %}
)

select distinct organization_id, activity_date, user_id
from activity
