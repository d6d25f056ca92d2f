select
    id       as participant_id,
    call_id,
    user_id,
    participant_role,
    joined_at,
    left_at,
    country
from {{ source('auralink', 'call_participants') }}
