select
    organization_id,
    user_id,
    member_role,
    joined_at,
    left_at
from {{ source('auralink', 'organization_members') }}
