with subscriptions as (
    select * from {{ source('auralink', 'subscriptions') }}
),

final as (
    select
        id     as subscription_id,
        organization_id,
        plan,
        status as subscription_status,
        seats,
        started_at,
        ended_at   -- exclusive; null while current
    from subscriptions
)

select * from final
