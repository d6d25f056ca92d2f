with calls as (
    select * from {{ source('auralink', 'calls') }}
),

final as (
    select
        id                                    as call_id,
        organization_id,
        initiated_by                          as initiated_by_user_id,
        call_type,
        status                                as call_status,
        region,
        started_at,
        ended_at,
        duration_seconds,
        (started_at at time zone 'UTC')::date as call_date
    from calls
)

select * from final
