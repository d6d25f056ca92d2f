-- Compliance and retention: file archives of audit-log partitions, rows kept out of them by legal holds,
-- retention runs, and the erasure ledger.

-- One row per audit_logs partition archived to a file. The row walks pending -> written -> verified
-- -> dropped; each step is re-entrant, so a run killed anywhere is finished by the next one.
CREATE TABLE audit_log_archives (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    partition_name  text        NOT NULL UNIQUE,
    range_start     timestamptz NOT NULL,
    range_end       timestamptz NOT NULL,
    status          text        NOT NULL DEFAULT 'pending'
                                CHECK (status IN ('pending', 'written', 'verified', 'dropped', 'superseded')),
    location        text,
    file_format     text        NOT NULL DEFAULT 'csv.gz',
    row_count       bigint      CHECK (row_count >= 0),
    -- sha256 of the uncompressed CSV (PostgreSQL's own COPY text, so it is re-computable from the table);
    content_sha256  text,
    -- sha256 of the stored (compressed) file, so a later audit can check the object was not altered.
    file_sha256     text,
    file_bytes      bigint,
    min_occurred_at timestamptz,
    max_occurred_at timestamptz,
    held_rows       bigint      NOT NULL DEFAULT 0,
    attempts        integer     NOT NULL DEFAULT 0,
    written_at      timestamptz,
    verified_at     timestamptz,
    dropped_at      timestamptz,
    error           text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (range_end > range_start)
);

-- Audit rows under a legal hold, moved out of a partition before it is archived and dropped.
CREATE TABLE audit_logs_held (LIKE audit_logs INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE audit_logs_held ADD PRIMARY KEY (id, occurred_at);
ALTER TABLE audit_logs_held ADD COLUMN held_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE audit_logs_held ADD COLUMN hold_reason text NOT NULL;
ALTER TABLE audit_logs_held ADD COLUMN source_partition text NOT NULL;
CREATE INDEX audit_logs_held_org_idx ON audit_logs_held (organization_id, occurred_at);
CREATE INDEX audit_logs_held_actor_idx ON audit_logs_held (actor_user_id);

-- What each nightly retention pass did, per policy.
CREATE TABLE retention_runs (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_run_id      bigint      REFERENCES job_runs (id) ON DELETE SET NULL,
    policy_id       bigint      REFERENCES data_retention_policies (id) ON DELETE SET NULL,
    organization_id uuid        NOT NULL,
    resource_type   text        NOT NULL,
    action          text        NOT NULL CHECK (action IN ('delete', 'anonymize', 'archive')),
    retention_days  integer     NOT NULL,
    cutoff          timestamptz NOT NULL,
    status          text        NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed', 'skipped')),
    rows_affected   bigint      NOT NULL DEFAULT 0,
    files_deleted   integer     NOT NULL DEFAULT 0,
    rows_held       bigint      NOT NULL DEFAULT 0,
    archive_location text,
    details         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    error           text,
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);
CREATE INDEX retention_runs_org_idx ON retention_runs (organization_id, started_at DESC);

-- One row per executed erasure: the stable pseudonym and the counts, never the identity itself.
CREATE TABLE erasure_ledger (
    request_id      uuid        PRIMARY KEY REFERENCES compliance_requests (id) ON DELETE CASCADE,
    pseudonym       text        NOT NULL,
    performed_at    timestamptz NOT NULL DEFAULT now(),
    report_location text,
    report_sha256   text,
    summary         jsonb       NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX erasure_ledger_pseudonym_idx ON erasure_ledger (pseudonym);

-- The reasons of the active holds that keep a row, for reports. The decision itself is always
-- legal_hold_applies(); this only names the holds behind a "yes" (same predicate, kept in one place here).
CREATE FUNCTION legal_hold_reasons(p_organization_id uuid,
                                   p_user_id uuid DEFAULT NULL,
                                   p_resource_type text DEFAULT NULL,
                                   p_resource_id text DEFAULT NULL)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT string_agg(format('hold %s (%s%s): %s', h.id, h.scope,
                             COALESCE(', case ' || h.case_reference, ''), h.reason), '; ' ORDER BY h.id)
    FROM legal_holds h
    WHERE h.released_at IS NULL
      AND (   (h.scope = 'organization' AND h.organization_id = p_organization_id)
           OR (h.scope = 'user' AND h.user_id = p_user_id)
           OR (h.scope = 'resource' AND h.resource_type = p_resource_type AND h.resource_id = p_resource_id));
$$;
