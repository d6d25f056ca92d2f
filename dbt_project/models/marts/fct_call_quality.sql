{{
  config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='call_id',
    indexes=[{'columns': ['call_id'], 'unique': True}, {'columns': ['organization_id', 'call_date']}],
  )
}}
-- Call quality per call: sample-weighted network averages and MOS over all participants, the worst
-- participant's MOS, and the quality bucket (excellent > 4.2, good 3.7-4.2, fair 3.1-3.7, poor below).
-- Calls without any telemetry sample have no row. A run rebuilds the calls sampled in the night's window.
with participants as (
    select *
    from {{ ref('int_call_participant_quality') }}
    where last_sampled_at < {{ interval_end() }}
    {% if is_incremental() %}
      and call_id = any(array(
        select distinct call_id from {{ ref('int_call_participant_quality') }}
        where last_sampled_at >= {{ window_start() }} and last_sampled_at < {{ interval_end() }}))
    {% endif %}
),

calls as (
    select * from {{ ref('stg_calls') }}
),

per_call as (
    select
        call_id,
        count(*)                                                 as participants_measured,
        sum(samples)                                             as samples,
        sum(scored_samples)                                      as scored_samples,
        sum(avg_rtt_ms * samples) / nullif(sum(samples), 0)      as avg_rtt_ms,
        sum(avg_jitter_ms * samples) / nullif(sum(samples), 0)   as avg_jitter_ms,
        sum(avg_packet_loss * samples) / nullif(sum(samples), 0) as avg_packet_loss,
        sum(avg_mos * scored_samples) filter (where scored_samples > 0)
        / nullif(sum(scored_samples), 0)                         as avg_mos,
        min(avg_mos)                                             as worst_participant_mos,
        sum(poor_samples)                                        as poor_samples,
        mode() within group (order by codec)                     as codec,
        max(last_sampled_at)                                     as last_sampled_at
    from participants
    group by call_id
),

final as (
    select
        q.call_id,
        c.organization_id,
        c.call_date,
        c.call_type,
        c.call_status,
        c.region,
        c.duration_seconds,
        q.codec,
        q.participants_measured,
        q.samples,
        q.scored_samples,
        round(q.avg_rtt_ms, 2)                              as avg_rtt_ms,
        round(q.avg_jitter_ms, 2)                           as avg_jitter_ms,
        round(q.avg_packet_loss, 5)                         as avg_packet_loss,
        round(q.avg_mos, 4)                                 as avg_mos,
        q.worst_participant_mos,
        {{ mos_quality_bucket('round(q.avg_mos, 4)') }}     as quality_bucket,
        {{ mos_quality_bucket('q.worst_participant_mos') }} as worst_participant_bucket,
        q.poor_samples,
        q.last_sampled_at
    from per_call as q
    inner join calls as c on q.call_id = c.call_id
)

select * from final
