-- The SQL E-model (macros/g107_mos.sql) reproduces every reference point to 0.01 MOS and to the same
-- quality bucket; rows returned are failures.
with points as (
    select
        p.*,
        c.ie,
        c.bpl,
        {{ g107_one_way_delay_ms('p.rtt_ms', 'p.jitter_ms', 'c.coding_delay_ms') }} as ta
    from {{ ref('mos_reference_points') }} as p
    left join {{ ref('codec_impairment') }} as c on c.codec_name = lower(btrim(p.codec))
),

scored as (
    select *, {{ g107_mos_from_r(g107_r_factor('ta', 'packet_loss', 'ie', 'bpl')) }} as mos
    from points
)

select case_name, expected_mos, mos, expected_quality_bucket, {{ mos_quality_bucket('mos') }} as bucket
from scored
where mos is null
   or abs(mos - expected_mos) > 0.01
   or {{ mos_quality_bucket('mos') }} <> expected_quality_bucket
