-- Every telemetry sample with its E-model MOS (macros/g107_mos.sql). Samples whose codec has no G.113
-- values keep a null MOS (and are counted as unscored downstream) rather than being dropped.
-- Each step is a LATERAL subquery fenced with OFFSET 0: otherwise PostgreSQL inlines every reference
-- to R and MOS as the whole expression (R appears six times in the MOS polynomial, MOS four times in the
-- bucket), which made the E-model ~100x slower. The fence keeps filters on the samples pushed down (the
-- import CTEs are inlined: each is read once).
with call_quality_samples as (
    select * from {{ ref('stg_call_quality_samples') }}
),

codec_impairment as (
    select * from {{ ref('codec_impairment') }}
),

final as (
    select
        s.sample_id,
        s.call_id,
        s.participant_id,
        s.sampled_at,
        s.rtt_ms,
        s.jitter_ms,
        s.packet_loss,
        s.codec_name,
        c.codec,
        round(d.one_way_delay_ms::numeric, 3)                 as one_way_delay_ms,  -- noqa: LT01
        round(r.r_factor::numeric, 4)                         as r_factor,  -- noqa: LT01
        round(m.mos::numeric, 4)                              as mos,  -- noqa: LT01
        {{ mos_quality_bucket('round(m.mos::numeric, 4)') }}  as quality_bucket  -- noqa: LT01
    -- The E-model steps as fenced LATERAL subqueries (see above): sqlfluff cannot parse `select ... offset 0`
    -- without a FROM, and these must stay subqueries, so the linter skips them.
    -- noqa: disable=all
    from call_quality_samples as s
    left join codec_impairment as c on c.codec_name = s.codec_name
    cross join lateral (
        select {{ g107_one_way_delay_ms('s.rtt_ms', 's.jitter_ms', 'c.coding_delay_ms') }} as one_way_delay_ms offset 0
    ) as d
    cross join lateral (
        select {{ g107_r_factor('d.one_way_delay_ms', 's.packet_loss', 'c.ie', 'c.bpl') }} as r_factor offset 0
    ) as r
    cross join lateral (
        select case when c.codec is null then null else {{ g107_mos_from_r('r.r_factor') }} end as mos offset 0
    ) as m
    -- noqa: enable=all
)

select * from final
