-- Core product tables: who calls whom, what was recorded, what it cost.
-- Ids of product entities are uuids minted by the product; high-volume facts use bigint identities.

CREATE TABLE organizations (
    id          uuid PRIMARY KEY,
    name        text        NOT NULL CHECK (length(btrim(name)) > 0),
    slug        text        NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]*$'),
    plan        text        NOT NULL CHECK (plan IN ('free', 'pro', 'enterprise')),
    timezone    text        NOT NULL DEFAULT 'UTC',
    country     char(2),
    created_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz
);

CREATE TABLE users (
    id            uuid PRIMARY KEY,
    email         text        NOT NULL CHECK (position('@' IN email) > 1),
    full_name     text,
    phone         text,
    country       char(2),
    locale        text        NOT NULL DEFAULT 'en',
    is_active     boolean     NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_login_at timestamptz,
    -- Set by erasure (GDPR Art. 17): the stable pseudonym that replaces the identity where rows must stay.
    erased_at     timestamptz,
    pseudonym     text
);
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

CREATE TABLE organization_members (
    organization_id uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id         uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    member_role     text        NOT NULL DEFAULT 'member'
                                CHECK (member_role IN ('owner', 'admin', 'member', 'viewer')),
    joined_at       timestamptz NOT NULL DEFAULT now(),
    left_at         timestamptz,
    PRIMARY KEY (organization_id, user_id),
    CHECK (left_at IS NULL OR left_at >= joined_at)
);
CREATE INDEX organization_members_user_idx ON organization_members (user_id);

CREATE TABLE consents (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    organization_id uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    purpose         text        NOT NULL CHECK (purpose IN ('recording', 'transcription', 'ai_processing', 'analytics', 'marketing')),
    granted         boolean     NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    withdrawn_at    timestamptz,
    UNIQUE (user_id, organization_id, purpose)
);

CREATE TABLE calls (
    id               uuid PRIMARY KEY,
    organization_id  uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    initiated_by     uuid        REFERENCES users (id) ON DELETE SET NULL,
    call_type        text        NOT NULL DEFAULT 'audio' CHECK (call_type IN ('audio', 'video', 'screen_share')),
    status           text        NOT NULL DEFAULT 'completed'
                                 CHECK (status IN ('in_progress', 'completed', 'failed', 'missed')),
    region           text,
    started_at       timestamptz NOT NULL,
    ended_at         timestamptz,
    duration_seconds integer     CHECK (duration_seconds >= 0),
    created_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (ended_at IS NULL OR ended_at >= started_at)
);
CREATE INDEX calls_org_started_idx ON calls (organization_id, started_at);
CREATE INDEX calls_started_idx ON calls (started_at);
CREATE INDEX calls_initiated_by_idx ON calls (initiated_by);

CREATE TABLE call_participants (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    call_id       uuid        NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    user_id       uuid        REFERENCES users (id) ON DELETE SET NULL,  -- NULL for guests
    display_name  text,
    participant_role text     NOT NULL DEFAULT 'participant' CHECK (participant_role IN ('host', 'participant', 'guest')),
    joined_at     timestamptz NOT NULL,
    left_at       timestamptz,
    ip_address    inet,
    country       char(2),
    CHECK (left_at IS NULL OR left_at >= joined_at)
);
CREATE UNIQUE INDEX call_participants_call_user_key ON call_participants (call_id, user_id) WHERE user_id IS NOT NULL;
CREATE INDEX call_participants_user_idx ON call_participants (user_id);
CREATE INDEX call_participants_call_idx ON call_participants (call_id);

CREATE TABLE call_recordings (
    id               uuid PRIMARY KEY,
    call_id          uuid        NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    organization_id  uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    storage_uri      text        NOT NULL,
    duration_seconds numeric(10,3) CHECK (duration_seconds >= 0),
    codec            text        NOT NULL DEFAULT 'opus',
    sample_rate_hz   integer     CHECK (sample_rate_hz > 0),
    size_bytes       bigint      CHECK (size_bytes >= 0),
    -- pending -> processing (claimed) -> transcribed | failed; deleted once the audio is gone by retention or erasure.
    status           text        NOT NULL DEFAULT 'pending'
                                 CHECK (status IN ('pending', 'processing', 'transcribed', 'failed', 'deleted')),
    failure_reason   text,
    retry_count      integer     NOT NULL DEFAULT 0 CHECK (retry_count >= 0),
    claimed_at       timestamptz,
    claimed_by       text,
    processed_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    deleted_at       timestamptz
);
CREATE INDEX call_recordings_call_idx ON call_recordings (call_id);
CREATE INDEX call_recordings_org_created_idx ON call_recordings (organization_id, created_at);
CREATE INDEX call_recordings_work_queue_idx ON call_recordings (created_at) WHERE status IN ('pending', 'failed');

CREATE TABLE call_quality_samples (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    call_id         uuid        NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    participant_id  bigint      NOT NULL REFERENCES call_participants (id) ON DELETE CASCADE,
    sampled_at      timestamptz NOT NULL,
    rtt_ms          numeric(8,2) NOT NULL CHECK (rtt_ms >= 0),
    jitter_ms       numeric(8,2) NOT NULL CHECK (jitter_ms >= 0),
    packet_loss     numeric(6,5) NOT NULL CHECK (packet_loss BETWEEN 0 AND 1),  -- a fraction, not a percent
    codec           text        NOT NULL,
    bitrate_kbps    numeric(8,2) CHECK (bitrate_kbps >= 0),
    UNIQUE (participant_id, sampled_at)
);
CREATE INDEX call_quality_samples_call_idx ON call_quality_samples (call_id, participant_id, sampled_at);
CREATE INDEX call_quality_samples_sampled_idx ON call_quality_samples (sampled_at);

CREATE TABLE transcriptions (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    recording_id       uuid        NOT NULL UNIQUE REFERENCES call_recordings (id) ON DELETE CASCADE,
    call_id            uuid        NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    organization_id    uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    engine             text        NOT NULL,
    model              text        NOT NULL,
    language           text,
    text               text        NOT NULL,
    -- PII-redacted copy: the only text that may leave for an LLM.
    redacted_text      text,
    segments           jsonb       NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(segments) = 'array'),
    audio_seconds      numeric(10,3) CHECK (audio_seconds >= 0),
    processing_seconds numeric(10,3) CHECK (processing_seconds >= 0),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX transcriptions_call_idx ON transcriptions (call_id);
CREATE INDEX transcriptions_org_created_idx ON transcriptions (organization_id, created_at);

CREATE TABLE call_summaries (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transcription_id  bigint      NOT NULL UNIQUE REFERENCES transcriptions (id) ON DELETE CASCADE,
    call_id           uuid        NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    organization_id   uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    summary           text        NOT NULL,
    action_items      jsonb       NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(action_items) = 'array'),
    sentiment         text        CHECK (sentiment IN ('positive', 'neutral', 'negative', 'mixed')),
    provider          text        NOT NULL,
    model             text        NOT NULL,
    prompt_tokens     integer     NOT NULL DEFAULT 0 CHECK (prompt_tokens >= 0),
    completion_tokens integer     NOT NULL DEFAULT 0 CHECK (completion_tokens >= 0),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX call_summaries_call_idx ON call_summaries (call_id);

CREATE TABLE ai_usage (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id         uuid        REFERENCES users (id) ON DELETE SET NULL,
    call_id         uuid        REFERENCES calls (id) ON DELETE SET NULL,
    feature         text        NOT NULL CHECK (feature IN ('stt', 'tts', 'llm', 'agents')),
    provider        text        NOT NULL,
    model           text        NOT NULL,
    -- units are minutes for stt, characters for tts, requests for llm/agents (tokens are counted separately)
    unit_type       text        NOT NULL CHECK (unit_type IN ('minutes', 'characters', 'tokens', 'requests')),
    units           numeric(14,4) NOT NULL DEFAULT 0 CHECK (units >= 0),
    input_tokens    integer     NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
    output_tokens   integer     NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
    cost_usd        numeric(14,6) NOT NULL DEFAULT 0 CHECK (cost_usd >= 0),
    occurred_at     timestamptz NOT NULL,
    -- Natural key of a usage event, so a job that records its own usage can re-run without double counting.
    idempotency_key text        UNIQUE,
    metadata        jsonb       NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX ai_usage_org_occurred_idx ON ai_usage (organization_id, occurred_at);
CREATE INDEX ai_usage_occurred_idx ON ai_usage (occurred_at);
CREATE INDEX ai_usage_user_idx ON ai_usage (user_id);
