-- Which night each analytics table holds once its quality gate passed: written by the Asset-scheduled
-- DAG analytics_published from the Asset events the nightly gate emits, read by dashboards ("data as of").
CREATE TABLE analytics_publications (
    table_name      text        NOT NULL,
    interval_start  timestamptz NOT NULL,
    interval_end    timestamptz NOT NULL,
    asset_uri       text        NOT NULL,
    source_dag_id   text,
    source_run_id   text,
    published_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (table_name, interval_start, interval_end),
    CHECK (interval_end > interval_start)
);
