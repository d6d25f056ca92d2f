with call_quality_samples as (
    select * from {{ source('auralink', 'call_quality_samples') }}
),

final as (
    select
        id                  as sample_id,
        call_id,
        participant_id,
        sampled_at,
        rtt_ms::float8      as rtt_ms,
        jitter_ms::float8   as jitter_ms,
        packet_loss::float8 as packet_loss,  -- a fraction 0..1
        lower(btrim(codec)) as codec_name,
        bitrate_kbps
    from call_quality_samples
)

select * from final
