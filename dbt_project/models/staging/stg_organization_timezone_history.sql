with organization_timezone_history as (
    select * from {{ source('auralink', 'organization_timezone_history') }}
),

final as (
    select
        id as timezone_change_id,
        organization_id,
        timezone,
        effective_from,
        first_local_date,
        changed_at
    from organization_timezone_history
)

select * from final
