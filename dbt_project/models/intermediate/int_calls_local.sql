-- Calls with the local date they started on (the organization's time zone in force then): the grain of
-- the daily activity metrics.
with calls as (
    select * from {{ ref('stg_calls') }}
),

periods as (
    select * from {{ ref('int_org_timezone_periods') }}
),

final as (
    select
        c.call_id,
        c.organization_id,
        c.initiated_by_user_id,
        c.call_type,
        c.call_status,
        c.region,
        c.started_at,
        c.ended_at,
        c.duration_seconds,
        {{ local_date('c.started_at') }} as call_date
    from calls as c
    inner join periods as p
        on c.organization_id = p.organization_id and {{ in_zone_period('c.started_at') }}
)

select * from final
