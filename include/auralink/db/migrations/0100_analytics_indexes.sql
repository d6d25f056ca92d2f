-- Analytics reads metered usage by day: the nightly dbt run re-aggregates whole UTC days of
-- usage_records (the lookback window and days that received late rows). Without an index on
-- recorded_at alone (the existing one leads with organization_id), each such day costs a scan of the
-- whole monthly partition, so the nightly cost would grow with the month's history.
CREATE INDEX IF NOT EXISTS usage_records_recorded_idx ON usage_records (recorded_at);
