-- Every AI usage event priced from the price book (seeds/ai_price_book.csv, also read by
-- auralink.pricing): per minute for STT, per character for TTS, per 1k input/output tokens for LLMs
-- (plus a per-request fee for agents). Rounded per event to 6 decimals like auralink.pricing.Price.cost.
-- Events without a price keep a null list cost (flagged by a warning test and by the ai_usage_costs job).
with ai_usage as (
    select * from {{ ref('stg_ai_usage') }}
),

ai_price_book as (
    select * from {{ ref('ai_price_book') }}
),

final as (
    select
        u.ai_usage_id,
        u.organization_id,
        u.usage_date,
        u.occurred_at,
        u.received_at,
        u.feature,
        u.provider,
        u.model,
        u.unit_type,
        u.units,
        u.input_tokens,
        u.output_tokens,
        u.recorded_cost_usd,
        p.feature is not null as is_priced,
        round(
            p.price_per_unit_usd * u.units
            + p.price_per_1k_input_tokens_usd * u.input_tokens / 1000
            + p.price_per_1k_output_tokens_usd * u.output_tokens / 1000, 6
        )                     as list_cost_usd
    from ai_usage as u
    left join ai_price_book as p
        on u.feature = p.feature and u.provider = p.provider and u.model = p.model
)

select * from final
