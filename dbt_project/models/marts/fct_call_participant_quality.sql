{{ config(materialized='view') }}
-- Call quality per call participant (ITU-T G.107 E-model MOS), with its quality bucket.
with participant_quality as (
    select * from {{ ref('int_call_participant_quality') }}
),

final as (
    select
        participant_id,
        call_id,
        organization_id,
        user_id,
        call_date,
        codec,
        samples,
        scored_samples,
        avg_rtt_ms,
        avg_jitter_ms,
        avg_packet_loss,
        avg_one_way_delay_ms,
        avg_r_factor,
        avg_mos,
        min_mos,
        poor_samples,
        first_sampled_at,
        last_sampled_at,
        {{ mos_quality_bucket('avg_mos') }} as quality_bucket
    from participant_quality
)

select * from final
