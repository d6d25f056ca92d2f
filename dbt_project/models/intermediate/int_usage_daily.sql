{{
  config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='usage_date',
    on_schema_change='append_new_columns',
    indexes=[{'columns': ['usage_date', 'organization_id'], 'unique': True}],
  )
}}
-- Metered usage per organization and UTC day, up to the night's end. Each run replaces whole days: the
-- night and its `lookback_days`, and every older day that received rows since the previous run (late rows
-- of any age), found through usage_records.received_at; so a night's cost follows the new data, not the
-- history. The first run builds every day before the night's end.
with usage_records as (
    select * from {{ ref('stg_usage_records') }}
),

{% if is_incremental() %}
days_to_rebuild as (
    select d::date as usage_date
    from generate_series({{ window_start_date() }}, {{ interval_end_date() }} - 1, interval '1 day') as d
    union
    select distinct usage_date
    from usage_records
    where received_at > {{ processed_since('max_received_at', var('watermark_margin_minutes') ~ ' minutes') }}
      and recorded_at < {{ interval_end() }}
),

usage as (
    select u.*
    from usage_records as u
    join days_to_rebuild as d
      on u.recorded_at >= (d.usage_date::timestamp at time zone 'UTC')
     and u.recorded_at < ((d.usage_date + 1)::timestamp at time zone 'UTC')
),
{% else %}
    usage as (
        select * from usage_records
        where recorded_at < {{ interval_end() }}
    ),
{% endif %}

final as (
    select
        organization_id,
        usage_date,
        coalesce(sum(quantity) filter (where metric = 'call_minutes'), 0)          as call_minutes,
        coalesce(sum(quantity) filter (where metric = 'ai_calls'), 0)              as metered_ai_calls,
        coalesce(sum(quantity) filter (where metric = 'recording_minutes'), 0)     as recording_minutes,
        coalesce(sum(quantity) filter (where metric = 'transcription_minutes'), 0) as transcription_minutes,
        coalesce(sum(quantity) filter (where metric = 'storage_gb_hours'), 0)      as storage_gb_hours,
        coalesce(max(quantity) filter (where metric = 'seats'), 0)                 as seats,
        count(*)                                                                   as usage_records,
        max(received_at)                                                           as max_received_at
    from usage
    group by organization_id, usage_date
)

select * from final
