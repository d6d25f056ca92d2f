-- Participants with their call's organization and local date (the grain of activity metrics).
with call_participants as (
    select * from {{ ref('stg_call_participants') }}
),

calls as (
    select * from {{ ref('int_calls_local') }}
),

final as (
    select
        p.participant_id,
        p.call_id,
        p.user_id,
        p.participant_role,
        p.joined_at,
        p.left_at,
        c.organization_id,
        c.call_date,
        c.started_at as call_started_at
    from call_participants as p
    inner join calls as c on p.call_id = c.call_id
)

select * from final
