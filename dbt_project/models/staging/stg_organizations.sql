with organizations as (
    select * from {{ source('auralink', 'organizations') }}
),

final as (
    select
        id   as organization_id,
        name as organization_name,
        slug,
        plan,
        timezone,
        country,
        created_at,
        deleted_at
    from organizations
)

select * from final
