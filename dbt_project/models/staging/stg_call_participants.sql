with call_participants as (
    select * from {{ source('auralink', 'call_participants') }}
),

final as (
    select
        id as participant_id,
        call_id,
        user_id,
        participant_role,
        joined_at,
        left_at,
        country
    from call_participants
)

select * from final
