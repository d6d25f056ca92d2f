with billing_plans as (
    select * from {{ source('auralink', 'billing_plans') }}
),

final as (
    select
        plan,
        monthly_fee_usd,
        included_minutes,
        included_ai_calls,
        overage_per_minute_usd,
        overage_per_ai_call_usd,
        hard_capped
    from billing_plans
)

select * from final
