{{ config(materialized='view') }}
-- Call quality per call participant (ITU-T G.107 E-model MOS), with its quality bucket.
select
    *,
    {{ mos_quality_bucket('avg_mos') }} as quality_bucket
from {{ ref('int_call_participant_quality') }}
