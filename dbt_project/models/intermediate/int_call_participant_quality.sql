-- depends_on: {{ ref('stg_call_quality_samples') }}
{{
  config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='participant_id',
    indexes=[{'columns': ['participant_id'], 'unique': True}, {'columns': ['call_id']}, {'columns': ['last_sampled_at']}],
  )
}}
-- Call quality per participant: network averages and the mean of the per-sample E-model MOS (each sample
-- covers the same interval, so the mean is time-weighted), from the samples before the night's end. Each
-- run recomputes whole participants of the calls that got samples in the night's window.
with scored_samples as (
    select *
    from {{ ref('int_call_quality_samples_scored') }}
    where sampled_at < {{ interval_end() }}
    {% if is_incremental() %}
    -- = any(array(...)): PostgreSQL then probes the call_id index per call instead of hashing all samples.
      and call_id = any(array(
        select distinct s.call_id
        from {{ ref('stg_call_quality_samples') }} as s
        where s.sampled_at >= {{ window_start() }} and s.sampled_at < {{ interval_end() }}))
    {% endif %}
),

participants as (
    select * from {{ ref('stg_call_participants') }}
),

calls as (
    select * from {{ ref('stg_calls') }}
),

per_participant as (
    select
        participant_id,
        call_id,
        count(*)                                        as samples,
        count(mos)                                      as scored_samples,
        mode() within group (order by codec_name)       as codec,
        avg(rtt_ms)                                     as avg_rtt_ms,
        avg(jitter_ms)                                  as avg_jitter_ms,
        avg(packet_loss)                                as avg_packet_loss,
        avg(one_way_delay_ms)                           as avg_one_way_delay_ms,
        avg(r_factor) filter (where mos is not null)    as avg_r_factor,
        avg(mos)                                        as avg_mos,
        min(mos)                                        as min_mos,
        count(*) filter (where quality_bucket = 'poor') as poor_samples,
        min(sampled_at)                                 as first_sampled_at,
        max(sampled_at)                                 as last_sampled_at
    from scored_samples
    group by participant_id, call_id
),

final as (
    select
        q.participant_id,
        q.call_id,
        c.organization_id,
        p.user_id,
        c.call_date,
        q.codec,
        q.samples,
        q.scored_samples,
        round(q.avg_rtt_ms::numeric, 2)           as avg_rtt_ms,
        round(q.avg_jitter_ms::numeric, 2)        as avg_jitter_ms,
        round(q.avg_packet_loss::numeric, 5)      as avg_packet_loss,
        round(q.avg_one_way_delay_ms::numeric, 2) as avg_one_way_delay_ms,
        round(q.avg_r_factor::numeric, 2)         as avg_r_factor,
        round(q.avg_mos::numeric, 4)              as avg_mos,
        round(q.min_mos::numeric, 4)              as min_mos,
        q.poor_samples,
        q.first_sampled_at,
        q.last_sampled_at
    from per_participant as q
    inner join participants as p on q.participant_id = p.participant_id
    inner join calls as c on q.call_id = c.call_id
)

select * from final
