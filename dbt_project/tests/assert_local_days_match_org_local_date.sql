{{ config(tags=['parity']) }}
-- The days of int_usage_daily (dbt's local calendar, macros/local_calendar.sql) are the days the SQL rule
-- org_local_date() gives (migration 1500, what billing reads): for every day the model holds, as many
-- usage rows; rows returned are differences. Tagged `parity` (it dates all raw usage): CI only.
with by_rule as (
    select
        organization_id,
        org_local_date(organization_id, recorded_at) as usage_date,
        count(*)                                     as usage_records
    from {{ ref('stg_usage_records') }}
    group by 1, 2
)

select m.organization_id, m.usage_date, m.usage_records, r.usage_records as rule_usage_records
from {{ ref('int_usage_daily') }} as m
left join by_rule as r
    on m.organization_id = r.organization_id and m.usage_date = r.usage_date
where r.usage_records is distinct from m.usage_records
