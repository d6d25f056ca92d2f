-- Each organization's own calendar (issue 17, part 2): analytics days and billing months are local days
-- and months in the organization's time zone, and a change of zone takes effect from the next local month
-- (the next billing period), for the days and the months alike, so a month is always its local days.
--
-- The rule, once: an instant is dated in the zone in force at that instant (organization_timezone_history);
-- the first day of a new zone is the first of the month after the change (in the old zone) and starts when
-- the zone takes effect, so no local day is dated twice, days that have ended never change, and each month
-- is wholly in one zone. org_local_date() is the
-- rule; org_local_day_start() is its inverse (where a local day starts); a month is its local days
-- (org_local_month_bounds). The dbt models apply the same rule as a join on the periods
-- (dbt_project/macros/local_calendar.sql); tests/analytics/test_local_days.py binds the two.

-- One row per time zone an organization has had; every organization has one from -infinity (written with
-- the organization by the trigger below), so the rows cover all time. effective_from: the first instant the zone dates
-- (-infinity for the zone an organization started with); first_local_date: the first local day it dates.
CREATE TABLE organization_timezone_history (
    id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id  uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    timezone         text        NOT NULL,
    effective_from   timestamptz NOT NULL,
    first_local_date date        NOT NULL,
    changed_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, effective_from),
    CHECK ((effective_from = '-infinity') = (first_local_date = '-infinity')),
    CHECK (first_local_date = '-infinity' OR extract(day FROM first_local_date) = 1)   -- a zone starts with a month
);

-- A zone name PostgreSQL knows (IANA), or one clear error.
CREATE FUNCTION organization_timezone_checked(p_timezone text) RETURNS text LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM now() AT TIME ZONE p_timezone;
    RETURN p_timezone;
EXCEPTION WHEN invalid_parameter_value THEN
    RAISE EXCEPTION 'unknown time zone %', quote_literal(p_timezone) USING ERRCODE = 'invalid_parameter_value';
END $$;

-- Every write of organizations.timezone is recorded here, whichever path made it. A change takes effect
-- at the start of the next local month of the zone in force: the month under way (its days, its invoice)
-- stays in the zone it began in. A second change before then replaces the pending one (and changing back
-- cancels it).
CREATE FUNCTION organizations_record_timezone() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    in_force text;
    next_month date;
BEGIN
    PERFORM organization_timezone_checked(NEW.timezone);
    IF TG_OP = 'INSERT' THEN
        INSERT INTO organization_timezone_history (organization_id, timezone, effective_from, first_local_date)
        VALUES (NEW.id, NEW.timezone, '-infinity', '-infinity');
        RETURN NEW;
    END IF;
    IF NEW.timezone IS NOT DISTINCT FROM OLD.timezone THEN
        RETURN NEW;
    END IF;
    DELETE FROM organization_timezone_history h WHERE h.organization_id = NEW.id AND h.effective_from > now();
    SELECT h.timezone INTO in_force FROM organization_timezone_history h
    WHERE h.organization_id = NEW.id AND h.effective_from <= now()
    ORDER BY h.effective_from DESC LIMIT 1;
    in_force := COALESCE(in_force, OLD.timezone);
    IF NEW.timezone = in_force THEN
        RETURN NEW;
    END IF;
    next_month := (date_trunc('month', now() AT TIME ZONE in_force) + interval '1 month')::date;
    INSERT INTO organization_timezone_history (organization_id, timezone, effective_from, first_local_date)
    VALUES (NEW.id, NEW.timezone, next_month::timestamp AT TIME ZONE in_force, next_month);
    RETURN NEW;
END $$;
CREATE TRIGGER organizations_timezone_history AFTER INSERT OR UPDATE OF timezone ON organizations
    FOR EACH ROW EXECUTE FUNCTION organizations_record_timezone();

INSERT INTO organization_timezone_history (organization_id, timezone, effective_from, first_local_date)
SELECT id, timezone, '-infinity', '-infinity' FROM organizations;

-- The local date of an instant for an organization (the rule; see the top of this file).
CREATE FUNCTION org_local_date(p_organization_id uuid, p_at timestamptz) RETURNS date LANGUAGE sql STABLE AS $$
    SELECT greatest((p_at AT TIME ZONE h.timezone)::date, h.first_local_date)
    FROM organization_timezone_history h
    WHERE h.organization_id = p_organization_id AND h.effective_from <= p_at
    ORDER BY h.effective_from DESC LIMIT 1;
$$;

-- The instant an organization's local day starts: local midnight in the zone of that day, except the first
-- day of a zone, which starts when the zone takes effect. org_local_date(o, t) = d exactly when
-- org_local_day_start(o, d) <= t < org_local_day_start(o, d + 1).
CREATE FUNCTION org_local_day_start(p_organization_id uuid, p_day date) RETURNS timestamptz LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN h.first_local_date = p_day THEN h.effective_from
                ELSE p_day::timestamp AT TIME ZONE h.timezone END
    FROM organization_timezone_history h
    WHERE h.organization_id = p_organization_id AND h.first_local_date <= p_day
    ORDER BY h.first_local_date DESC LIMIT 1;
$$;

-- A billing (and analytics) month is its local days: from the start of its first local day to the start
-- of the next month's.
CREATE FUNCTION org_local_month_bounds(p_organization_id uuid, p_month date,
                                       OUT starts_at timestamptz, OUT ends_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT org_local_day_start(p_organization_id, date_trunc('month', p_month)::date),
           org_local_day_start(p_organization_id, (date_trunc('month', p_month) + interval '1 month')::date);
$$;

-- 0500's plan segments, clipped to the month by local days (a subscription's start and end dated by
-- org_local_date) instead of UTC days.
CREATE OR REPLACE FUNCTION billing_plan_segments(p_organization_id uuid, p_month date)
RETURNS TABLE (plan text, seg_start date, seg_end date, days integer, month_days integer, share numeric,
               fee_usd numeric, included_minutes numeric, included_ai_calls numeric)
LANGUAGE sql STABLE AS $$
    WITH bounds AS (
        SELECT date_trunc('month', p_month)::date AS m_start,
               (date_trunc('month', p_month) + interval '1 month')::date AS m_end
    ), subs AS (
        SELECT s.plan, org_local_date(p_organization_id, s.started_at) AS started,
               CASE WHEN s.ended_at IS NOT NULL THEN org_local_date(p_organization_id, s.ended_at) END AS ended
        FROM subscriptions s WHERE s.organization_id = p_organization_id
    ), segs AS (
        SELECT s.plan,
               greatest(s.started, b.m_start) AS seg_start,
               least(COALESCE(s.ended, b.m_end), b.m_end) AS seg_end
        FROM subs s, bounds b
        WHERE s.started < b.m_end AND COALESCE(s.ended, b.m_end) > b.m_start
        UNION ALL
        SELECT o.plan, b.m_start, b.m_end FROM organizations o, bounds b
        WHERE o.id = p_organization_id
          AND NOT EXISTS (SELECT 1 FROM subs s WHERE s.started < b.m_end AND COALESCE(s.ended, b.m_end) > b.m_start)
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

-- 0500's costs, counting the usage and AI events of the organization's local month.
CREATE OR REPLACE FUNCTION calculate_monthly_costs_as_of(p_organization_id uuid, p_month date,
                                                         p_received_before timestamptz)
RETURNS TABLE (organization_id uuid, month date, plan text, base_fee_usd numeric, call_minutes numeric,
               included_minutes numeric, overage_minutes numeric, overage_minutes_usd numeric,
               ai_calls numeric, included_ai_calls numeric, overage_ai_calls numeric,
               overage_ai_calls_usd numeric, ai_provider_cost_usd numeric, total_usd numeric)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    m_start  date := date_trunc('month', p_month)::date;
    t_start  timestamptz;
    t_end    timestamptz;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM organizations o WHERE o.id = p_organization_id) THEN
        RAISE EXCEPTION 'calculate_monthly_costs: unknown organization %', p_organization_id
            USING ERRCODE = 'no_data_found';
    END IF;
    SELECT b.starts_at, b.ends_at INTO t_start, t_end FROM org_local_month_bounds(p_organization_id, m_start) b;
    RETURN QUERY
    WITH segs AS (
        SELECT * FROM billing_plan_segments(p_organization_id, m_start)
    ), last_plan AS (
        SELECT bp.* FROM segs sg JOIN billing_plans bp ON bp.plan = sg.plan
        ORDER BY sg.seg_start DESC, sg.seg_end DESC LIMIT 1
    ), usage AS (
        SELECT COALESCE(sum(u.quantity) FILTER (WHERE u.metric = 'call_minutes'), 0) AS minutes,
               COALESCE(sum(u.quantity) FILTER (WHERE u.metric = 'ai_calls'), 0) AS ai_calls
        FROM usage_records u
        WHERE u.organization_id = p_organization_id
          AND u.recorded_at >= t_start AND u.recorded_at < t_end
          AND u.received_at < p_received_before
    ), totals AS (
        SELECT COALESCE(sum(sg.fee_usd), 0) AS base_fee,
               COALESCE(floor(sum(sg.included_minutes)), 0) AS inc_minutes,
               COALESCE(floor(sum(sg.included_ai_calls)), 0) AS inc_ai
        FROM segs sg
    ), provider AS (
        SELECT COALESCE(sum(a.cost_usd), 0) AS cost FROM ai_usage a
        WHERE a.organization_id = p_organization_id
          AND a.occurred_at >= t_start AND a.occurred_at < t_end
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
