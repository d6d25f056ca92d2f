-- Functions the jobs and the product share.

-- Monthly range partitions named <parent>_pYYYYMM, created ahead of the data that needs them.
CREATE FUNCTION ensure_monthly_partitions(p_parent regclass, p_from date, p_to date)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    m       date := date_trunc('month', p_from)::date;
    created integer := 0;
    part    text;
BEGIN
    IF p_to < p_from THEN
        RAISE EXCEPTION 'ensure_monthly_partitions: % is before %', p_to, p_from;
    END IF;
    WHILE m <= p_to LOOP
        part := format('%s_p%s', p_parent::text, to_char(m, 'YYYYMM'));
        IF to_regclass(part) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                           part, p_parent, (m::timestamp AT TIME ZONE 'UTC'),
                           ((m + interval '1 month')::timestamp AT TIME ZONE 'UTC'));
            created := created + 1;
        END IF;
        m := (m + interval '1 month')::date;
    END LOOP;
    RETURN created;
END $$;

-- Partitions of a range-partitioned table with their bounds, oldest first.
CREATE FUNCTION monthly_partitions(p_parent regclass)
RETURNS TABLE (partition_name text, range_start timestamptz, range_end timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT c.relname::text,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']+)''\)'))[1]::timestamptz,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz
    FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = p_parent
    ORDER BY 2;
$$;

-- The one legal-hold check every deleting path calls (erasure, retention, archival).
-- A hold on the organization, on the user, or on the resource itself keeps the row.
CREATE FUNCTION legal_hold_applies(p_organization_id uuid,
                                   p_user_id uuid DEFAULT NULL,
                                   p_resource_type text DEFAULT NULL,
                                   p_resource_id text DEFAULT NULL)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT EXISTS (
        SELECT 1 FROM legal_holds h
        WHERE h.released_at IS NULL
          AND (   (h.scope = 'organization' AND h.organization_id = p_organization_id)
               OR (h.scope = 'user' AND h.user_id = p_user_id)
               OR (h.scope = 'resource' AND h.resource_type = p_resource_type AND h.resource_id = p_resource_id)));
$$;

-- Refresh every materialized view of a schema in dependency order; CONCURRENTLY where the view
-- is populated and has a plain unique index (readers keep reading), plainly otherwise.
CREATE FUNCTION refresh_analytics_views(p_schema text DEFAULT 'analytics')
RETURNS TABLE (view_name text, refreshed_concurrently boolean, seconds numeric)
LANGUAGE plpgsql AS $$
DECLARE
    v       record;
    started timestamptz;
    conc    boolean;
BEGIN
    FOR v IN
        WITH RECURSIVE deps AS (      -- (view, relation it reads), through plain views too
            SELECT DISTINCT r.ev_class AS obj, d.refobjid AS ref
            FROM pg_rewrite r
            JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
                            AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> r.ev_class
        ), mv AS (
            SELECT c.oid, c.relname, c.relispopulated FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind = 'm' AND n.nspname = p_schema
        ), walk AS (                  -- every relation each matview reaches, with path length
            SELECT mv.oid AS root, d.ref, 1 AS depth FROM mv JOIN deps d ON d.obj = mv.oid
            UNION
            SELECT w.root, d.ref, w.depth + 1 FROM walk w JOIN deps d ON d.obj = w.ref WHERE w.depth < 32
        ), level AS (                 -- how many matviews a matview sits on top of
            SELECT mv.oid, mv.relname, mv.relispopulated,
                   (SELECT count(DISTINCT w.ref) FROM walk w JOIN mv m2 ON m2.oid = w.ref WHERE w.root = mv.oid) AS lvl
            FROM mv
        )
        SELECT l.oid, l.relname, l.relispopulated, l.lvl FROM level l ORDER BY l.lvl, l.relname
    LOOP
        started := clock_timestamp();
        conc := v.relispopulated AND EXISTS (
            SELECT 1 FROM pg_index i WHERE i.indrelid = v.oid AND i.indisunique AND i.indisvalid
              AND i.indpred IS NULL AND i.indexprs IS NULL);
        IF conc THEN
            EXECUTE format('REFRESH MATERIALIZED VIEW CONCURRENTLY %I.%I', p_schema, v.relname);
        ELSE
            EXECUTE format('REFRESH MATERIALIZED VIEW %I.%I', p_schema, v.relname);
        END IF;
        view_name := v.relname;
        refreshed_concurrently := conc;
        seconds := round(extract(epoch FROM clock_timestamp() - started)::numeric, 3);
        RETURN NEXT;
    END LOOP;
END $$;

-- SQL-side archival: move audit rows older than the retention into audit_logs_archive, verify each
-- moved row is there before deleting it, keep rows under legal hold, and drop partitions that are
-- wholly past retention and empty. Returns the number of rows archived. (The nightly job's file
-- archival, auralink.compliance, is the lossless cold-storage path; this one stays correct alongside.)
CREATE FUNCTION archive_old_audit_logs(retention interval DEFAULT interval '90 days')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    cutoff  timestamptz := now() - retention;
    copied  bigint;
    removed bigint;
    p       record;
    is_empty boolean;
BEGIN
    IF retention < interval '1 day' THEN
        RAISE EXCEPTION 'archive_old_audit_logs: retention % is shorter than a day', retention;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('archive_old_audit_logs'));

    CREATE TEMP TABLE _audit_to_archive ON COMMIT DROP AS
        SELECT a.id, a.occurred_at FROM audit_logs a
        WHERE a.occurred_at < cutoff
          AND NOT legal_hold_applies(a.organization_id, a.actor_user_id, a.resource_type, a.resource_id);

    INSERT INTO audit_logs_archive (id, organization_id, actor_user_id, actor_email, actor_type, action,
            resource_type, resource_id, severity, outcome, ip_address, user_agent, country,
            request_metadata, response_metadata, old_values, new_values, occurred_at)
    SELECT a.id, a.organization_id, a.actor_user_id, a.actor_email, a.actor_type, a.action,
           a.resource_type, a.resource_id, a.severity, a.outcome, a.ip_address, a.user_agent, a.country,
           a.request_metadata, a.response_metadata, a.old_values, a.new_values, a.occurred_at
    FROM audit_logs a JOIN _audit_to_archive t USING (id, occurred_at)
    ON CONFLICT (id, occurred_at) DO NOTHING;
    GET DIAGNOSTICS copied = ROW_COUNT;

    DELETE FROM audit_logs a USING _audit_to_archive t
    WHERE a.id = t.id AND a.occurred_at = t.occurred_at
      AND EXISTS (SELECT 1 FROM audit_logs_archive r WHERE r.id = a.id AND r.occurred_at = a.occurred_at);
    GET DIAGNOSTICS removed = ROW_COUNT;

    IF removed <> (SELECT count(*) FROM _audit_to_archive) THEN
        RAISE EXCEPTION 'archive_old_audit_logs: % rows selected but % verified in the archive',
            (SELECT count(*) FROM _audit_to_archive), removed;
    END IF;

    FOR p IN SELECT * FROM monthly_partitions('audit_logs') WHERE range_end <= cutoff LOOP
        EXECUTE format('SELECT NOT EXISTS (SELECT 1 FROM %I)', p.partition_name) INTO is_empty;
        IF is_empty THEN
            EXECUTE format('ALTER TABLE audit_logs DETACH PARTITION %I', p.partition_name);
            EXECUTE format('DROP TABLE %I', p.partition_name);
        END IF;
    END LOOP;
    RETURN removed;
END $$;

-- What an organization owes for a month under the price list in billing_plans.
-- Fees and allowances are prorated by day across plan changes (UTC days); overage is priced at the
-- plan in force at the end of the month; hard-capped plans never bill overage. ai_provider_cost_usd is
-- what the AI providers cost AuraLink (margin reporting), not part of the total.
CREATE FUNCTION calculate_monthly_costs(p_organization_id uuid, p_month date)
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
        SELECT s.plan,
               greatest((s.started_at AT TIME ZONE 'UTC')::date, m_start) AS seg_start,
               least(COALESCE((s.ended_at AT TIME ZONE 'UTC')::date, m_end), m_end) AS seg_end
        FROM subscriptions s
        WHERE s.organization_id = p_organization_id
          AND (s.started_at AT TIME ZONE 'UTC')::date < m_end
          AND COALESCE((s.ended_at AT TIME ZONE 'UTC')::date, m_end) > m_start
        UNION ALL   -- an organization without subscription rows is billed on its plan for the whole month
        SELECT o.plan, m_start, m_end FROM organizations o
        WHERE o.id = p_organization_id
          AND NOT EXISTS (SELECT 1 FROM subscriptions s WHERE s.organization_id = p_organization_id
                          AND (s.started_at AT TIME ZONE 'UTC')::date < m_end
                          AND COALESCE((s.ended_at AT TIME ZONE 'UTC')::date, m_end) > m_start)
    ), priced AS (
        SELECT sg.*, bp.monthly_fee_usd, bp.included_minutes, bp.included_ai_calls,
               (sg.seg_end - sg.seg_start)::numeric / (m_end - m_start) AS share
        FROM segs sg JOIN billing_plans bp ON bp.plan = sg.plan
        WHERE sg.seg_end > sg.seg_start
    ), last_plan AS (
        SELECT bp.* FROM priced pr JOIN billing_plans bp ON bp.plan = pr.plan
        ORDER BY pr.seg_start DESC LIMIT 1
    ), usage AS (
        SELECT COALESCE(sum(u.quantity) FILTER (WHERE u.metric = 'call_minutes'), 0) AS minutes,
               COALESCE(sum(u.quantity) FILTER (WHERE u.metric = 'ai_calls'), 0) AS ai_calls
        FROM usage_records u
        WHERE u.organization_id = p_organization_id
          AND u.recorded_at >= (m_start::timestamp AT TIME ZONE 'UTC')
          AND u.recorded_at < (m_end::timestamp AT TIME ZONE 'UTC')
    ), totals AS (
        SELECT COALESCE(sum(round(pr.monthly_fee_usd * pr.share, 2)), 0) AS base_fee,
               COALESCE(floor(sum(pr.included_minutes * pr.share)), 0) AS inc_minutes,
               COALESCE(floor(sum(pr.included_ai_calls * pr.share)), 0) AS inc_ai
        FROM priced pr
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
