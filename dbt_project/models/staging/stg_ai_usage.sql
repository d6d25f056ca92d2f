with ai_usage as (
    select * from {{ source('auralink', 'ai_usage') }}
),

final as (
    select
        id                                     as ai_usage_id,
        organization_id,
        user_id,
        call_id,
        feature,
        provider,
        model,
        unit_type,
        units,
        input_tokens,
        output_tokens,
        cost_usd                               as recorded_cost_usd,
        occurred_at,
        received_at,
        (occurred_at at time zone 'UTC')::date as usage_date
    from ai_usage
)

select * from final
