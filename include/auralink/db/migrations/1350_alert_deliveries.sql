-- What the send_alerts job told the on-call list, so a re-run (or the next night) sends nothing again.
-- One row per alert and channel, keyed naturally: the alert's subject ('security_event:<id>',
-- 'compliance_overdue:<request id>:<deadline>', 'compliance_due_soon:<request id>:<deadline>') and the
-- channel it went over (the connection id). A failed delivery keeps its row with status 'failed' and is
-- tried again by the next run; 'sent' rows are never sent again.
CREATE TABLE alert_deliveries (
    alert_key     text        NOT NULL,
    channel       text        NOT NULL,
    kind          text        NOT NULL,
    severity      text        NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    status        text        NOT NULL CHECK (status IN ('sent', 'failed')),
    attempts      integer     NOT NULL DEFAULT 1 CHECK (attempts > 0),
    error         text,
    job_run_id    bigint,
    first_tried_at timestamptz NOT NULL DEFAULT now(),
    sent_at       timestamptz,
    PRIMARY KEY (alert_key, channel)
);
CREATE INDEX alert_deliveries_failed_idx ON alert_deliveries (channel) WHERE status = 'failed';
