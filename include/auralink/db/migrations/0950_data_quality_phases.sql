-- Quality gates run before dbt (phase 'source') and after it on the marts (phase 'analytics'); each row
-- also keeps the line Data Docs shows for the check and the Great Expectations run it belongs to.
ALTER TABLE data_quality_results
    ADD COLUMN phase       text NOT NULL DEFAULT 'source' CHECK (phase IN ('source', 'analytics')),
    ADD COLUMN description text,
    ADD COLUMN ge_run_name text;
CREATE INDEX data_quality_results_phase_checked_idx ON data_quality_results (phase, checked_at);
