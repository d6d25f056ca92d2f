{{
  config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='activity_month',
    indexes=[{'columns': ['organization_id', 'activity_month'], 'unique': True}],
  )
}}
-- Distinct active users per organization and local month, counting the days up to the night's end. Distinct
-- counts do not add up across days, and counting them from the daily rows of all history in the summary
-- view grew with the history: a run recounts only the months its window touches.
with active_users as (
    select *
    from {{ ref('int_active_users_daily') }}
    where activity_date < {{ interval_end_date() }}
    {% if is_incremental() %}
      and activity_date >= date_trunc('month', {{ local_window_start_date() }})::date
    {% endif %}
),

final as (
    select
        organization_id,
        date_trunc('month', activity_date)::date as activity_month,
        count(distinct user_id)                  as active_users
    from active_users
    group by 1, 2
)

select * from final
