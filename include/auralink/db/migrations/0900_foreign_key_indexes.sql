-- Indexes behind foreign keys that delete or null out rows (ON DELETE CASCADE / SET NULL): without them,
-- deleting one call or erasing one user scans the whole referencing table (seen: ai_usage.call_id made a
-- retention-style call deletion take minutes at 1M AI events).
CREATE INDEX IF NOT EXISTS ai_usage_call_idx ON ai_usage (call_id) WHERE call_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS security_events_user_idx ON security_events (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS custom_reports_created_by_idx ON custom_reports (created_by) WHERE created_by IS NOT NULL;
CREATE INDEX IF NOT EXISTS api_keys_created_by_idx ON api_keys (created_by) WHERE created_by IS NOT NULL;
CREATE INDEX IF NOT EXISTS user_role_assignments_granted_by_idx ON user_role_assignments (granted_by) WHERE granted_by IS NOT NULL;
CREATE INDEX IF NOT EXISTS user_role_assignments_role_idx ON user_role_assignments (role_id);
-- Deleting an organization cascades through these.
CREATE INDEX IF NOT EXISTS api_keys_org_idx ON api_keys (organization_id);
CREATE INDEX IF NOT EXISTS call_summaries_org_idx ON call_summaries (organization_id);
CREATE INDEX IF NOT EXISTS compliance_requests_org_idx ON compliance_requests (organization_id);
CREATE INDEX IF NOT EXISTS consents_org_idx ON consents (organization_id);
CREATE INDEX IF NOT EXISTS rbac_roles_org_idx ON rbac_roles (organization_id) WHERE organization_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS user_role_assignments_org_idx ON user_role_assignments (organization_id);
CREATE INDEX IF NOT EXISTS retention_runs_job_run_idx ON retention_runs (job_run_id);
CREATE INDEX IF NOT EXISTS retention_runs_policy_idx ON retention_runs (policy_id);
