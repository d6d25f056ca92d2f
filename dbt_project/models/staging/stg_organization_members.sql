with organization_members as (
    select * from {{ source('auralink', 'organization_members') }}
),

final as (
    select
        organization_id,
        user_id,
        member_role,
        joined_at,
        left_at
    from organization_members
)

select * from final
