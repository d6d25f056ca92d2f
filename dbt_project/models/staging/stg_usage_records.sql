with usage_records as (
    select * from {{ source('auralink', 'usage_records') }}
),

final as (
    select
        id                                     as usage_record_id,
        organization_id,
        user_id,
        metric,
        quantity,
        recorded_at,
        received_at,
        (recorded_at at time zone 'UTC')::date as usage_date
    from usage_records
)

select * from final
