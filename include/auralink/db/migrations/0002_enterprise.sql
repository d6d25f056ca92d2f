-- Enterprise tables from the product spec: identity, audit, compliance, billing, RBAC and run tracking.

-- Secrets columns (*_encrypted) hold AES-256-GCM envelopes written by auralink.crypto
-- (version byte | 12-byte nonce | ciphertext+tag); plain secrets never reach the database.
CREATE TABLE sso_configs (
    id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id         uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    protocol                text        NOT NULL CHECK (protocol IN ('saml', 'oidc')),
    provider_name           text        NOT NULL,
    issuer                  text        NOT NULL,
    sso_url                 text        NOT NULL,
    client_id               text,
    client_secret_encrypted bytea,
    certificate_pem         text,        -- public part only
    private_key_encrypted   bytea,
    enabled                 boolean     NOT NULL DEFAULT true,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, protocol, issuer)
);

CREATE TABLE api_keys (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id  uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    created_by       uuid        REFERENCES users (id) ON DELETE SET NULL,
    name             text        NOT NULL,
    key_prefix       text        NOT NULL,           -- shown in the UI; identifies, does not authenticate
    secret_encrypted bytea       NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    revoked_at       timestamptz
);

-- Audit log, partitioned by month on occurred_at so retention detaches whole partitions.
-- No foreign keys: the log must outlive the rows it talks about (erasure pseudonymizes, never deletes, events).
CREATE SEQUENCE audit_logs_id_seq AS bigint;
CREATE TABLE audit_logs (
    id                bigint      NOT NULL DEFAULT nextval('audit_logs_id_seq'),
    organization_id   uuid,
    actor_user_id     uuid,
    actor_email       text,
    actor_type        text        NOT NULL DEFAULT 'user' CHECK (actor_type IN ('user', 'service', 'system', 'api_key')),
    action            text        NOT NULL,
    resource_type     text,
    resource_id       text,
    severity          text        NOT NULL DEFAULT 'info' CHECK (severity IN ('info', 'warning', 'error', 'critical')),
    outcome           text        NOT NULL DEFAULT 'success' CHECK (outcome IN ('success', 'failure')),
    ip_address        inet,
    user_agent        text,
    country           char(2),
    request_metadata  jsonb       NOT NULL DEFAULT '{}'::jsonb,
    response_metadata jsonb       NOT NULL DEFAULT '{}'::jsonb,
    old_values        jsonb,
    new_values        jsonb,
    occurred_at       timestamptz NOT NULL,
    PRIMARY KEY (id, occurred_at)
) PARTITION BY RANGE (occurred_at);
ALTER SEQUENCE audit_logs_id_seq OWNED BY audit_logs.id;
CREATE INDEX audit_logs_org_occurred_idx ON audit_logs (organization_id, occurred_at);
CREATE INDEX audit_logs_actor_idx ON audit_logs (actor_user_id, occurred_at);
CREATE INDEX audit_logs_action_idx ON audit_logs (action, occurred_at);

-- Rows that archive_old_audit_logs() moved out of the live partitions (SQL-only archival path).
CREATE TABLE audit_logs_archive (LIKE audit_logs INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE audit_logs_archive ADD PRIMARY KEY (id, occurred_at);
ALTER TABLE audit_logs_archive ADD COLUMN archived_at timestamptz NOT NULL DEFAULT now();

CREATE TABLE data_retention_policies (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    resource_type   text        NOT NULL CHECK (resource_type IN ('recordings', 'transcripts', 'summaries', 'audit_logs',
                                                                  'usage_records', 'compliance_exports', 'quality_samples', 'ai_usage')),
    retention_days  integer     NOT NULL CHECK (retention_days > 0),
    action          text        NOT NULL CHECK (action IN ('delete', 'anonymize', 'archive')),
    enabled         boolean     NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, resource_type)
);

-- A hold keeps rows from every deleting path (erasure, retention, archival) until released.
CREATE TABLE legal_holds (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id uuid        NOT NULL REFERENCES organizations (id) ON DELETE RESTRICT,
    scope           text        NOT NULL CHECK (scope IN ('organization', 'user', 'resource')),
    user_id         uuid        REFERENCES users (id) ON DELETE RESTRICT,
    resource_type   text,
    resource_id     text,
    reason          text        NOT NULL CHECK (length(btrim(reason)) > 0),
    case_reference  text,
    placed_by       text        NOT NULL,
    placed_at       timestamptz NOT NULL DEFAULT now(),
    released_at     timestamptz,
    CHECK ((scope = 'organization' AND user_id IS NULL AND resource_id IS NULL)
        OR (scope = 'user' AND user_id IS NOT NULL)
        OR (scope = 'resource' AND resource_type IS NOT NULL AND resource_id IS NOT NULL)),
    CHECK (released_at IS NULL OR released_at >= placed_at)
);
CREATE INDEX legal_holds_active_idx ON legal_holds (organization_id) WHERE released_at IS NULL;

CREATE TABLE compliance_requests (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id  uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    subject_user_id  uuid        REFERENCES users (id) ON DELETE SET NULL,
    subject_email    text,
    request_type     text        NOT NULL CHECK (request_type IN ('export', 'deletion', 'rectification')),
    standard         text        NOT NULL DEFAULT 'GDPR' CHECK (standard IN ('GDPR', 'HIPAA', 'SOC2')),
    export_format    text        NOT NULL DEFAULT 'json' CHECK (export_format IN ('json', 'csv', 'pdf')),
    status           text        NOT NULL DEFAULT 'pending'
                                 CHECK (status IN ('pending', 'in_progress', 'completed', 'failed', 'rejected')),
    scope            jsonb       NOT NULL DEFAULT '{}'::jsonb,
    requested_by     text,
    received_at      timestamptz NOT NULL DEFAULT now(),
    due_at           timestamptz NOT NULL,
    extended_due_at  timestamptz,
    extension_reason text,
    is_overdue       boolean     NOT NULL DEFAULT false,
    started_at       timestamptz,
    completed_at     timestamptz,
    result_location  text,
    result_checksum  text,
    error            text,
    attempts         integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (due_at >= received_at),
    CHECK (extended_due_at IS NULL OR (extended_due_at > due_at AND extension_reason IS NOT NULL))
);
CREATE INDEX compliance_requests_status_idx ON compliance_requests (status, due_at);
CREATE INDEX compliance_requests_subject_idx ON compliance_requests (subject_user_id);

CREATE TABLE security_events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id uuid        REFERENCES organizations (id) ON DELETE CASCADE,
    user_id         uuid        REFERENCES users (id) ON DELETE SET NULL,
    rule            text        NOT NULL,
    severity        text        NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    source_ip       inet,
    description     text        NOT NULL,
    evidence        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    -- One event per rule and subject and window, however often detection re-runs.
    dedup_key       text        NOT NULL UNIQUE,
    status          text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'acknowledged', 'resolved', 'false_positive')),
    first_seen_at   timestamptz NOT NULL,
    last_seen_at    timestamptz NOT NULL,
    occurrences     integer     NOT NULL DEFAULT 1 CHECK (occurrences > 0),
    detected_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (last_seen_at >= first_seen_at)
);
CREATE INDEX security_events_org_idx ON security_events (organization_id, detected_at);

CREATE TABLE ai_usage_analytics (
    organization_id uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    usage_date      date        NOT NULL,
    feature         text        NOT NULL CHECK (feature IN ('stt', 'tts', 'llm', 'agents')),
    provider        text        NOT NULL,
    model           text        NOT NULL,
    requests        integer     NOT NULL CHECK (requests >= 0),
    units           numeric(16,4) NOT NULL CHECK (units >= 0),
    input_tokens    bigint      NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
    output_tokens   bigint      NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
    recorded_cost_usd numeric(16,6) NOT NULL DEFAULT 0,
    list_cost_usd   numeric(16,6) NOT NULL DEFAULT 0,  -- priced from the price book
    computed_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, usage_date, feature, provider, model)
);

CREATE TABLE cost_optimization_insights (
    id                         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id            uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    insight_type               text        NOT NULL,
    title                      text        NOT NULL,
    description                text        NOT NULL,
    evidence                   jsonb       NOT NULL DEFAULT '{}'::jsonb,
    estimated_monthly_saving_usd numeric(12,2) NOT NULL DEFAULT 0 CHECK (estimated_monthly_saving_usd >= 0),
    status                     text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'dismissed', 'applied', 'resolved')),
    dedup_key                  text        NOT NULL UNIQUE,
    first_detected_at          timestamptz NOT NULL DEFAULT now(),
    last_detected_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cost_optimization_insights_org_idx ON cost_optimization_insights (organization_id, status);

CREATE TABLE custom_reports (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            text        NOT NULL,
    definition      jsonb       NOT NULL CHECK (jsonb_typeof(definition) = 'object'),
    schedule_cron   text,
    formats         text[]      NOT NULL DEFAULT ARRAY['csv']
                                CHECK (formats <@ ARRAY['csv', 'json', 'pdf'] AND cardinality(formats) > 0),
    enabled         boolean     NOT NULL DEFAULT true,
    created_by      uuid        REFERENCES users (id) ON DELETE SET NULL,
    last_run_at     timestamptz,
    next_run_at     timestamptz,
    last_status     text        CHECK (last_status IN ('succeeded', 'failed')),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, name)
);

CREATE TABLE rbac_roles (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id uuid        REFERENCES organizations (id) ON DELETE CASCADE,  -- NULL: a built-in role
    name            text        NOT NULL,
    description     text,
    permissions     jsonb       NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(permissions) = 'array'),
    is_system       boolean     NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX rbac_roles_org_name_key ON rbac_roles (COALESCE(organization_id, '00000000-0000-0000-0000-000000000000'::uuid), name);

CREATE TABLE user_role_assignments (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    organization_id uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    role_id         bigint      NOT NULL REFERENCES rbac_roles (id) ON DELETE CASCADE,
    granted_by      uuid        REFERENCES users (id) ON DELETE SET NULL,
    granted_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz,
    UNIQUE (user_id, organization_id, role_id)
);

-- The layout casbin's SQL adapters use: ptype p (sub, obj, act) or g (user, role[, domain]).
CREATE TABLE casbin_rule (
    id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ptype varchar(16)  NOT NULL CHECK (ptype IN ('p', 'p2', 'g', 'g2')),
    v0    varchar(255),
    v1    varchar(255),
    v2    varchar(255),
    v3    varchar(255),
    v4    varchar(255),
    v5    varchar(255)
);
CREATE UNIQUE INDEX casbin_rule_key ON casbin_rule (ptype, COALESCE(v0, ''), COALESCE(v1, ''), COALESCE(v2, ''),
                                                    COALESCE(v3, ''), COALESCE(v4, ''), COALESCE(v5, ''));

-- The price list: the one place plan fees, allowances and overage rates live
-- (calculate_monthly_costs() and the invoice job both read it).
CREATE TABLE billing_plans (
    plan                 text PRIMARY KEY CHECK (plan IN ('free', 'pro', 'enterprise')),
    monthly_fee_usd      numeric(12,2) NOT NULL CHECK (monthly_fee_usd >= 0),
    included_minutes     integer       NOT NULL CHECK (included_minutes >= 0),
    included_ai_calls    integer       NOT NULL CHECK (included_ai_calls >= 0),
    overage_per_minute_usd  numeric(12,6) NOT NULL CHECK (overage_per_minute_usd >= 0),
    overage_per_ai_call_usd numeric(12,6) NOT NULL CHECK (overage_per_ai_call_usd >= 0),
    hard_capped          boolean       NOT NULL   -- usage past the allowance is refused, never billed
);
INSERT INTO billing_plans VALUES
    ('free',          0.00,      1000,   100, 0.000000, 0.000000, true),
    ('pro',          49.00,     10000,  1000, 0.004000, 0.020000, false),
    ('enterprise',  499.00,    100000, 10000, 0.003000, 0.015000, false);

CREATE TABLE subscriptions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    plan            text        NOT NULL REFERENCES billing_plans (plan),
    status          text        NOT NULL DEFAULT 'active' CHECK (status IN ('trialing', 'active', 'past_due', 'canceled')),
    seats           integer     NOT NULL DEFAULT 1 CHECK (seats > 0),
    started_at      timestamptz NOT NULL,
    ended_at        timestamptz,  -- exclusive; NULL while current
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (ended_at IS NULL OR ended_at > started_at)
);
CREATE UNIQUE INDEX subscriptions_one_current_key ON subscriptions (organization_id) WHERE ended_at IS NULL;
CREATE INDEX subscriptions_org_period_idx ON subscriptions (organization_id, started_at);

CREATE TABLE invoices (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid        NOT NULL REFERENCES organizations (id) ON DELETE RESTRICT,
    invoice_number  integer     NOT NULL CHECK (invoice_number > 0),
    period_start    date        NOT NULL,
    period_end      date        NOT NULL,  -- exclusive
    status          text        NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'finalized', 'paid', 'void')),
    currency        char(3)     NOT NULL DEFAULT 'USD',
    subtotal_usd    numeric(12,2) NOT NULL DEFAULT 0,
    tax_usd         numeric(12,2) NOT NULL DEFAULT 0 CHECK (tax_usd >= 0),
    total_usd       numeric(12,2) NOT NULL DEFAULT 0,
    billing_email   text,
    issued_at       timestamptz NOT NULL DEFAULT now(),
    finalized_at    timestamptz,
    UNIQUE (organization_id, invoice_number),
    UNIQUE (organization_id, period_start),
    CHECK (period_end > period_start)
);

CREATE TABLE invoice_line_items (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    invoice_id  uuid          NOT NULL REFERENCES invoices (id) ON DELETE CASCADE,
    line_key    text          NOT NULL,  -- natural key within the invoice, so re-generation upserts
    line_type   text          NOT NULL CHECK (line_type IN ('subscription', 'proration', 'overage_minutes',
                                                            'overage_ai_calls', 'adjustment', 'credit', 'tax')),
    description text          NOT NULL,
    quantity    numeric(14,4) NOT NULL,
    unit_price_usd numeric(12,6) NOT NULL,
    amount_usd  numeric(12,2) NOT NULL,
    metadata    jsonb         NOT NULL DEFAULT '{}'::jsonb,
    UNIQUE (invoice_id, line_key)
);

-- Metered usage, partitioned by month on recorded_at. The idempotency key is unique together with
-- recorded_at (a partitioned table's unique keys must carry the partition key): the product derives
-- the key from the event, so a re-sent event carries the same time and is ignored by ON CONFLICT.
CREATE SEQUENCE usage_records_id_seq AS bigint;
CREATE TABLE usage_records (
    id              bigint        NOT NULL DEFAULT nextval('usage_records_id_seq'),
    organization_id uuid          NOT NULL,
    user_id         uuid,
    metric          text          NOT NULL CHECK (metric IN ('call_minutes', 'ai_calls', 'recording_minutes',
                                                             'storage_gb_hours', 'transcription_minutes', 'seats')),
    quantity        numeric(14,4) NOT NULL CHECK (quantity >= 0),
    recorded_at     timestamptz   NOT NULL,
    received_at     timestamptz   NOT NULL DEFAULT now(),
    idempotency_key text          NOT NULL CHECK (length(idempotency_key) > 0),
    source          text          NOT NULL DEFAULT 'product',
    PRIMARY KEY (id, recorded_at),
    UNIQUE (idempotency_key, recorded_at)
) PARTITION BY RANGE (recorded_at);
ALTER SEQUENCE usage_records_id_seq OWNED BY usage_records.id;
CREATE INDEX usage_records_org_recorded_idx ON usage_records (organization_id, recorded_at);
CREATE INDEX usage_records_received_idx ON usage_records (received_at);

CREATE TABLE airflow_dag_runs (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dag_id        text        NOT NULL,
    run_id        text        NOT NULL,
    logical_date  timestamptz,
    state         text        NOT NULL CHECK (state IN ('queued', 'running', 'success', 'failed')),
    started_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    conf          jsonb       NOT NULL DEFAULT '{}'::jsonb,
    error         text,
    UNIQUE (dag_id, run_id)
);

CREATE TABLE argo_workflows (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text        NOT NULL,
    uid           text        NOT NULL UNIQUE,
    namespace     text        NOT NULL DEFAULT 'default',
    template      text        NOT NULL,
    status        text        NOT NULL CHECK (status IN ('Pending', 'Running', 'Succeeded', 'Failed', 'Error')),
    parameters    jsonb       NOT NULL DEFAULT '{}'::jsonb,
    started_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    error         text,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Every job run and what it did to each item, so a batch that goes on past a bad item says so.
CREATE TABLE job_runs (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_name     text        NOT NULL,
    params       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    triggered_by text        NOT NULL DEFAULT 'cli',
    status       text        NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'partial', 'failed')),
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    stats        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    error        text
);
CREATE INDEX job_runs_name_started_idx ON job_runs (job_name, started_at DESC);

CREATE TABLE job_run_items (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_run_id  bigint      NOT NULL REFERENCES job_runs (id) ON DELETE CASCADE,
    item_type   text        NOT NULL,
    item_id     text        NOT NULL,
    outcome     text        NOT NULL CHECK (outcome IN ('succeeded', 'failed', 'skipped')),
    reason      text,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX job_run_items_run_idx ON job_run_items (job_run_id);
CREATE INDEX job_run_items_item_idx ON job_run_items (item_type, item_id);
