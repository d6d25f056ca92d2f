-- Recordings: call-quality reports (one row per call, upserted by analyze_call_quality) and the
-- summariser's attempt bookkeeping on transcriptions (so a transcript the LLM keeps failing on is
-- retried a bounded number of times, not forever).

CREATE TABLE call_quality_reports (
    call_id               uuid        PRIMARY KEY REFERENCES calls (id) ON DELETE CASCADE,
    organization_id       uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    samples_count         integer     NOT NULL CHECK (samples_count >= 0),
    participants_count    integer     NOT NULL CHECK (participants_count >= 0),
    first_sample_at       timestamptz,
    last_sample_at        timestamptz,
    avg_rtt_ms            numeric(8,2),
    max_rtt_ms            numeric(8,2),
    avg_jitter_ms         numeric(8,2),
    max_jitter_ms         numeric(8,2),
    avg_packet_loss       numeric(6,5) CHECK (avg_packet_loss BETWEEN 0 AND 1),  -- a fraction
    avg_mos               numeric(4,3) CHECK (avg_mos BETWEEN 1 AND 5),
    min_mos               numeric(4,3) CHECK (min_mos BETWEEN 1 AND 5),
    quality_bucket        text,
    -- Sustained breaches: the threshold crossed in >= 3 of 5 consecutive samples of one participant.
    sustained_high_rtt    boolean     NOT NULL DEFAULT false,   -- rtt > 400 ms
    sustained_high_jitter boolean     NOT NULL DEFAULT false,   -- jitter > 30 ms
    sustained_low_mos     boolean     NOT NULL DEFAULT false,   -- mos < 3.5
    high_packet_loss      boolean     NOT NULL DEFAULT false,   -- average loss > 3 %
    flags                 text[]      NOT NULL DEFAULT '{}',
    analyzed_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX call_quality_reports_org_idx ON call_quality_reports (organization_id, last_sample_at);
CREATE INDEX call_quality_reports_flagged_idx ON call_quality_reports (organization_id) WHERE cardinality(flags) > 0;

ALTER TABLE transcriptions
    ADD COLUMN summary_failures integer NOT NULL DEFAULT 0 CHECK (summary_failures >= 0),
    ADD COLUMN summary_error    text;
