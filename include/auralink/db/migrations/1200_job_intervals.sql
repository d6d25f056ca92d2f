-- Every job run records the night it processed, and two more outcomes: skipped (a current-only job asked
-- for a past night, or a night a concurrent run already finished) and abandoned (its process died).
ALTER TABLE job_runs
    ADD COLUMN interval_start timestamptz,
    ADD COLUMN interval_end   timestamptz,
    DROP CONSTRAINT job_runs_status_check,
    ADD CONSTRAINT job_runs_status_check
        CHECK (status IN ('running', 'succeeded', 'partial', 'failed', 'skipped', 'abandoned'));
CREATE INDEX job_runs_name_interval_idx ON job_runs (job_name, interval_start);
CREATE INDEX job_runs_running_idx ON job_runs (job_name) WHERE status = 'running';

-- When an AI usage event reached the database: the analytics catch late events at any age by it, as
-- they do for usage_records. now() is stable, so existing rows get the migration's time without a rewrite.
ALTER TABLE ai_usage ADD COLUMN received_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX ai_usage_received_idx ON ai_usage (received_at);

-- The newest AI-usage arrival ai_usage_costs copied from the mart: its watermark for late events.
ALTER TABLE ai_usage_analytics ADD COLUMN source_received_at timestamptz;
