{{
  config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='activity_month',
    indexes=[{'columns': ['organization_id', 'activity_month'], 'unique': True}],
  )
}}
-- Distinct active users per organization and month. Distinct counts do not add up across days, and
-- counting them from the daily rows of all history in the summary view grew with the history: a run
-- recounts only the months its lookback window touches.
select
    organization_id,
    date_trunc('month', activity_date)::date as activity_month,
    count(distinct user_id)                  as active_users
from {{ ref('int_active_users_daily') }}
{% if is_incremental() %}
{%- set window_start = '1900-01-01' -%}
{%- if execute -%}
{%- set window_start = run_query("select (coalesce(max(activity_date), date '1900-01-01') - " ~ var('lookback_days')
                                 ~ ")::text from " ~ ref('int_active_users_daily')).columns[0].values()[0] -%}
{%- endif %}
where activity_date >= date_trunc('month', date '{{ window_start }}')::date
{% endif %}
group by 1, 2
