-- Every telemetry sample with its E-model MOS (macros/g107_mos.sql). Samples whose codec has no G.113
-- values keep a null MOS (and are counted as unscored downstream) rather than being dropped.
with samples as (
    select
        s.*,
        c.codec,
        c.ie,
        c.bpl,
        {{ g107_one_way_delay_ms('s.rtt_ms', 's.jitter_ms', 'c.coding_delay_ms') }} as one_way_delay_ms
    from {{ ref('stg_call_quality_samples') }} as s
    left join {{ ref('codec_impairment') }} as c on c.codec_name = s.codec_name
),

rated as (
    select
        *,
        {{ g107_r_factor('one_way_delay_ms', 'packet_loss', 'ie', 'bpl') }} as r_factor
    from samples
),

scored as (
    select
        *,
        {{ g107_mos_from_r('r_factor') }} as mos
    from rated
)

select
    sample_id,
    call_id,
    participant_id,
    sampled_at,
    rtt_ms,
    jitter_ms,
    packet_loss,
    codec_name,
    codec,
    round(one_way_delay_ms::numeric, 3)                                      as one_way_delay_ms,
    round(r_factor::numeric, 4)                                              as r_factor,
    case when codec is null then null else round(mos::numeric, 4) end         as mos,
    {{ mos_quality_bucket('case when codec is null then null else mos end') }} as quality_bucket
from scored
