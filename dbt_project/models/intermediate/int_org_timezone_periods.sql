{{
  config(
    materialized='table',
    indexes=[{'columns': ['organization_id', 'effective_from'], 'unique': True}],
  )
}}
-- Each organization's time zones over time: the zone dates the instants in [effective_from, effective_to)
-- and first_local_date is the first local day it dates (macros/local_calendar.sql). Every organization has
-- a row from -infinity (a trigger writes it with the organization, migration 1500), so the periods cover
-- all time. A table (a few rows per organization) so the planner knows how small it is when the daily
-- models join raw rows to it. It reads the history only: rebuilding stg_organizations in a partial build
-- would drop the views and materialized views on it.
with history as (
    select * from {{ ref('stg_organization_timezone_history') }}
),

final as (
    select
        organization_id,
        timezone,
        effective_from,
        coalesce(
            lead(effective_from) over (partition by organization_id order by effective_from),
            'infinity'::timestamptz
        ) as effective_to,
        first_local_date
    from history
)

select * from final
