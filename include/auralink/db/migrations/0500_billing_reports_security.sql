-- Billing, custom reports and security detection: what the invoice, report and detection jobs need
-- beyond the foundation schema.

-- What an invoice counted: usage received up to usage_cutoff_at. Usage for the period that arrives
-- later (within the grace period) is billed as an adjustment line on the next invoice.
ALTER TABLE invoices ADD COLUMN usage_cutoff_at timestamptz;
ALTER TABLE invoices ADD COLUMN metadata jsonb NOT NULL DEFAULT '{}'::jsonb;

-- A finalized (or paid/void) invoice never changes: its amounts, period and lines are frozen.
CREATE FUNCTION invoices_refuse_finalized_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status <> 'draft' AND (NEW.subtotal_usd, NEW.tax_usd, NEW.total_usd, NEW.period_start, NEW.period_end,
                                  NEW.invoice_number, NEW.usage_cutoff_at)
                             IS DISTINCT FROM (OLD.subtotal_usd, OLD.tax_usd, OLD.total_usd, OLD.period_start,
                                  OLD.period_end, OLD.invoice_number, OLD.usage_cutoff_at) THEN
        RAISE EXCEPTION 'invoice % (%) is %: it cannot be changed', OLD.invoice_number, OLD.organization_id, OLD.status
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER invoices_finalized_frozen BEFORE UPDATE ON invoices
    FOR EACH ROW EXECUTE FUNCTION invoices_refuse_finalized_change();

CREATE FUNCTION invoice_lines_refuse_finalized_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    st text;
BEGIN
    SELECT i.status INTO st FROM invoices i WHERE i.id = COALESCE(NEW.invoice_id, OLD.invoice_id);
    IF st IS NOT NULL AND st <> 'draft' THEN
        RAISE EXCEPTION 'lines of a % invoice cannot be changed', st
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN COALESCE(NEW, OLD);
END $$;
CREATE TRIGGER invoice_line_items_finalized_frozen BEFORE INSERT OR UPDATE OR DELETE ON invoice_line_items
    FOR EACH ROW EXECUTE FUNCTION invoice_lines_refuse_finalized_change();

-- The plan segments of an organization's month: one row per subscription (clipped to the month, UTC
-- days), or the organization's plan for the whole month when it has no subscription in it. The one
-- definition of proration that calculate_monthly_costs() and the invoice lines share.
CREATE FUNCTION billing_plan_segments(p_organization_id uuid, p_month date)
RETURNS TABLE (plan text, seg_start date, seg_end date, days integer, month_days integer, share numeric,
               fee_usd numeric, included_minutes numeric, included_ai_calls numeric)
LANGUAGE sql STABLE AS $$
    WITH bounds AS (
        SELECT date_trunc('month', p_month)::date AS m_start,
               (date_trunc('month', p_month) + interval '1 month')::date AS m_end
    ), segs AS (
        SELECT s.plan,
               greatest((s.started_at AT TIME ZONE 'UTC')::date, b.m_start) AS seg_start,
               least(COALESCE((s.ended_at AT TIME ZONE 'UTC')::date, b.m_end), b.m_end) AS seg_end
        FROM subscriptions s, bounds b
        WHERE s.organization_id = p_organization_id
          AND (s.started_at AT TIME ZONE 'UTC')::date < b.m_end
          AND COALESCE((s.ended_at AT TIME ZONE 'UTC')::date, b.m_end) > b.m_start
        UNION ALL
        SELECT o.plan, b.m_start, b.m_end FROM organizations o, bounds b
        WHERE o.id = p_organization_id
          AND NOT EXISTS (SELECT 1 FROM subscriptions s WHERE s.organization_id = p_organization_id
                          AND (s.started_at AT TIME ZONE 'UTC')::date < b.m_end
                          AND COALESCE((s.ended_at AT TIME ZONE 'UTC')::date, b.m_end) > b.m_start)
    )
    SELECT sg.plan, sg.seg_start, sg.seg_end, (sg.seg_end - sg.seg_start), (b.m_end - b.m_start),
           (sg.seg_end - sg.seg_start)::numeric / (b.m_end - b.m_start),
           round(bp.monthly_fee_usd * ((sg.seg_end - sg.seg_start)::numeric / (b.m_end - b.m_start)), 2),
           bp.included_minutes * ((sg.seg_end - sg.seg_start)::numeric / (b.m_end - b.m_start)),
           bp.included_ai_calls * ((sg.seg_end - sg.seg_start)::numeric / (b.m_end - b.m_start))
    FROM segs sg JOIN billing_plans bp ON bp.plan = sg.plan, bounds b
    WHERE sg.seg_end >= sg.seg_start
    ORDER BY sg.seg_start, sg.seg_end;
$$;

-- calculate_monthly_costs() counting only usage received before p_received_before: what an invoice
-- computed at that moment billed. Same rules as 0003's function (fees and allowances prorated by
-- UTC day, overage at the plan in force at the end of the month, hard-capped plans bill no overage).
CREATE FUNCTION calculate_monthly_costs_as_of(p_organization_id uuid, p_month date, p_received_before timestamptz)
RETURNS TABLE (organization_id uuid, month date, plan text, base_fee_usd numeric, call_minutes numeric,
               included_minutes numeric, overage_minutes numeric, overage_minutes_usd numeric,
               ai_calls numeric, included_ai_calls numeric, overage_ai_calls numeric,
               overage_ai_calls_usd numeric, ai_provider_cost_usd numeric, total_usd numeric)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    m_start date := date_trunc('month', p_month)::date;
    m_end   date := (date_trunc('month', p_month) + interval '1 month')::date;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM organizations o WHERE o.id = p_organization_id) THEN
        RAISE EXCEPTION 'calculate_monthly_costs: unknown organization %', p_organization_id
            USING ERRCODE = 'no_data_found';
    END IF;
    RETURN QUERY
    WITH segs AS (
        SELECT * FROM billing_plan_segments(p_organization_id, m_start)
    ), last_plan AS (
        -- Bug fix over 0003: taken from every segment (0003 dropped zero-day segments first, so an
        -- organization whose only subscription started and ended on the same day got no row at all).
        SELECT bp.* FROM segs sg JOIN billing_plans bp ON bp.plan = sg.plan
        ORDER BY sg.seg_start DESC, sg.seg_end DESC LIMIT 1
    ), usage AS (
        SELECT COALESCE(sum(u.quantity) FILTER (WHERE u.metric = 'call_minutes'), 0) AS minutes,
               COALESCE(sum(u.quantity) FILTER (WHERE u.metric = 'ai_calls'), 0) AS ai_calls
        FROM usage_records u
        WHERE u.organization_id = p_organization_id
          AND u.recorded_at >= (m_start::timestamp AT TIME ZONE 'UTC')
          AND u.recorded_at < (m_end::timestamp AT TIME ZONE 'UTC')
          AND u.received_at < p_received_before
    ), totals AS (
        SELECT COALESCE(sum(sg.fee_usd), 0) AS base_fee,
               COALESCE(floor(sum(sg.included_minutes)), 0) AS inc_minutes,
               COALESCE(floor(sum(sg.included_ai_calls)), 0) AS inc_ai
        FROM segs sg
    ), provider AS (
        SELECT COALESCE(sum(a.cost_usd), 0) AS cost FROM ai_usage a
        WHERE a.organization_id = p_organization_id
          AND a.occurred_at >= (m_start::timestamp AT TIME ZONE 'UTC')
          AND a.occurred_at < (m_end::timestamp AT TIME ZONE 'UTC')
    ), over AS (
        SELECT lp.plan, t.base_fee, t.inc_minutes, t.inc_ai, u.minutes, u.ai_calls,
               greatest(u.minutes - t.inc_minutes, 0) AS over_minutes,
               greatest(u.ai_calls - t.inc_ai, 0) AS over_ai,
               CASE WHEN lp.hard_capped THEN 0 ELSE round(greatest(u.minutes - t.inc_minutes, 0) * lp.overage_per_minute_usd, 2) END AS over_minutes_usd,
               CASE WHEN lp.hard_capped THEN 0 ELSE round(greatest(u.ai_calls - t.inc_ai, 0) * lp.overage_per_ai_call_usd, 2) END AS over_ai_usd
        FROM last_plan lp, totals t, usage u
    )
    SELECT p_organization_id, m_start, o.plan, o.base_fee, o.minutes, o.inc_minutes, o.over_minutes,
           o.over_minutes_usd, o.ai_calls, o.inc_ai, o.over_ai, o.over_ai_usd, pv.cost,
           o.base_fee + o.over_minutes_usd + o.over_ai_usd
    FROM over o, provider pv;
END $$;

-- 0003's function, now the same computation as the invoice job's (all usage received so far).
CREATE OR REPLACE FUNCTION calculate_monthly_costs(p_organization_id uuid, p_month date)
RETURNS TABLE (organization_id uuid, month date, plan text, base_fee_usd numeric, call_minutes numeric,
               included_minutes numeric, overage_minutes numeric, overage_minutes_usd numeric,
               ai_calls numeric, included_ai_calls numeric, overage_ai_calls numeric,
               overage_ai_calls_usd numeric, ai_provider_cost_usd numeric, total_usd numeric)
LANGUAGE sql STABLE AS $$
    SELECT * FROM calculate_monthly_costs_as_of(p_organization_id, p_month, 'infinity'::timestamptz);
$$;

-- One generated report per schedule tick: the unique key is the claim, so a DAG that runs twice
-- (or two workers at once) generates a due report once.
CREATE TABLE report_runs (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    report_id     uuid        NOT NULL REFERENCES custom_reports (id) ON DELETE CASCADE,
    scheduled_for timestamptz NOT NULL,
    status        text        NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed')),
    started_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    row_count     integer,
    outputs       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    error         text,
    UNIQUE (report_id, scheduled_for)
);
CREATE INDEX report_runs_status_idx ON report_runs (status, started_at);

-- How far each incremental detector has read (security detection reads audit_logs from here on).
CREATE TABLE detection_watermarks (
    detector   text PRIMARY KEY,
    watermark  timestamptz NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
