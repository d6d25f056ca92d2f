-- Partitions that cannot run out: a DEFAULT partition on audit_logs and usage_records (no write is ever
-- refused), monthly partitions from this month through three ahead, and creation that is safe to run
-- twice at once and never leaves the product's writes queued behind it for longer than a short
-- lock_timeout. Applied functions are replaced here, never edited in 0003.

-- Run statements that need strong locks, all-or-nothing, without stalling the product: each attempt runs
-- in a subtransaction under p_lock_timeout; when a lock is not granted in time the attempt rolls back
-- (releasing its locks and its queue position, so writes queued behind it go ahead), sleeps with
-- jittered exponential backoff (50 ms doubling, capped at 2 s) and tries again until p_max_wait is spent.
-- Returns the number of attempts. The one retry loop of the project's partition DDL.
CREATE FUNCTION exec_with_lock_retry(p_label text, p_statements text[],
                                     p_lock_timeout interval DEFAULT interval '150 milliseconds',
                                     p_max_wait interval DEFAULT interval '60 seconds')
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    saved    text := current_setting('lock_timeout');
    started  timestamptz := clock_timestamp();
    attempt  integer := 0;
    stmt     text;
    pause    double precision;
    left_s   double precision;
BEGIN
    IF p_lock_timeout <= interval '0' THEN  -- 0 would mean "wait forever", the very stall this avoids
        RAISE EXCEPTION 'exec_with_lock_retry: lock_timeout must be positive, got %', p_lock_timeout;
    END IF;
    LOOP
        attempt := attempt + 1;
        BEGIN
            PERFORM set_config('lock_timeout', ceil(extract(epoch FROM p_lock_timeout) * 1000)::bigint || 'ms', true);
            FOREACH stmt IN ARRAY p_statements LOOP
                EXECUTE stmt;
            END LOOP;
            PERFORM set_config('lock_timeout', saved, true);
            RETURN attempt;
        EXCEPTION WHEN lock_not_available OR deadlock_detected THEN
            NULL;  -- the subtransaction is gone: its locks are released and lock_timeout is the caller's again
        END;
        left_s := extract(epoch FROM p_max_wait - (clock_timestamp() - started));
        IF left_s <= 0 THEN
            RAISE EXCEPTION '%: gave up after % attempts in %: a lock was not granted within % (a long transaction on the table?)',
                p_label, attempt, date_trunc('second', clock_timestamp() - started), p_lock_timeout
                USING ERRCODE = 'lock_not_available';
        END IF;
        pause := least(2.0, 0.05 * 2 ^ least(attempt - 1, 6)) * (0.5 + random() / 2);
        PERFORM pg_sleep(least(pause, left_s));
    END LOOP;
END $$;

-- Partitions of a range-partitioned table with their bounds, oldest first. The DEFAULT partition has no
-- FROM/TO and is not a month: it is left out (archival and retention walk months only).
CREATE OR REPLACE FUNCTION monthly_partitions(p_parent regclass)
RETURNS TABLE (partition_name text, range_start timestamptz, range_end timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT c.relname::text, b.m[1]::timestamptz, b.m[2]::timestamptz
    FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    CROSS JOIN LATERAL (SELECT regexp_match(pg_get_expr(c.relpartbound, c.oid),
                                            'FROM \(''([^'']+)''\) TO \(''([^'']+)''\)') AS m) b
    WHERE i.inhparent = p_parent AND b.m IS NOT NULL
    ORDER BY 2;
$$;

-- Create the month of p_month as <parent>_pYYYYMM without stalling writes (pg_partman's order): a
-- standalone table LIKE the parent with a CHECK matching the bounds (so ATTACH skips scanning it), that
-- month's rows moved out of DEFAULT into it, then ATTACH PARTITION, which takes only SHARE UPDATE
-- EXCLUSIVE on the parent (inserts into other months go on) and ACCESS EXCLUSIVE on DEFAULT, all in
-- one attempt of exec_with_lock_retry. A transaction-level advisory lock per parent serialises two
-- creators, so the second finds the month there. A month already covered is left alone.
CREATE FUNCTION attach_monthly_partition(p_parent regclass, p_month date,
                                         p_lock_timeout interval DEFAULT interval '150 milliseconds',
                                         p_max_wait interval DEFAULT interval '60 seconds')
RETURNS TABLE (partition_name text, created boolean, rows_moved bigint, attempts integer)
LANGUAGE plpgsql AS $$
DECLARE
    m_start timestamptz := date_trunc('month', p_month::timestamp) AT TIME ZONE 'UTC';
    m_end   timestamptz := (date_trunc('month', p_month::timestamp) + interval '1 month') AT TIME ZONE 'UTC';
    nsp     text;
    rel     text;
    col     text;
    part    text;
    qpart   text;
    chk     text;
    dflt    regclass;
    stmts   text[];
BEGIN
    SELECT n.nspname, c.relname, a.attname, NULLIF(pt.partdefid, 0)::regclass
      INTO nsp, rel, col, dflt
      FROM pg_partitioned_table pt
      JOIN pg_class c ON c.oid = pt.partrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_attribute a ON a.attrelid = pt.partrelid AND a.attnum = pt.partattrs[0]
     WHERE pt.partrelid = p_parent AND pt.partstrat = 'r' AND pt.partnatts = 1;
    IF col IS NULL THEN
        RAISE EXCEPTION 'attach_monthly_partition: % is not range-partitioned on one column', p_parent;
    END IF;
    part := format('%s_p%s', rel, to_char(m_start AT TIME ZONE 'UTC', 'YYYYMM'));
    partition_name := part;
    created := false;
    rows_moved := 0;
    attempts := 0;
    -- Fast path without any lock: the month is there (the usual case for every caller).
    IF EXISTS (SELECT 1 FROM monthly_partitions(p_parent) mp WHERE mp.range_start < m_end AND mp.range_end > m_start) THEN
        RETURN NEXT;
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(1346458196, hashtext(nsp || '.' || rel));  -- 0x50415254 "PART"
    SELECT NULLIF(pt.partdefid, 0)::regclass INTO dflt FROM pg_partitioned_table pt WHERE pt.partrelid = p_parent;
    IF EXISTS (SELECT 1 FROM monthly_partitions(p_parent) mp WHERE mp.range_start < m_end AND mp.range_end > m_start) THEN
        RETURN NEXT;  -- the other creator made it while we waited
        RETURN;
    END IF;
    IF to_regclass(format('%I.%I', nsp, part)) IS NOT NULL THEN
        RAISE EXCEPTION 'attach_monthly_partition: %.% exists but is not a partition of % for that month', nsp, part, p_parent
            USING ERRCODE = 'duplicate_table';
    END IF;
    qpart := format('%I.%I', nsp, part);
    chk := part || '_bounds';
    stmts := ARRAY[
        format('CREATE TABLE %s (LIKE %s INCLUDING ALL)', qpart, p_parent),
        format('ALTER TABLE %s ADD CONSTRAINT %I CHECK (%I IS NOT NULL AND %I >= %L AND %I < %L)',
               qpart, chk, col, col, m_start, col, m_end)];
    IF dflt IS NOT NULL THEN
        -- ATTACH's own lock order (parent, then DEFAULT), taken before the move so no row of the month can
        -- reach DEFAULT between the move and the attach.
        stmts := stmts || ARRAY[
            format('LOCK TABLE ONLY %s IN SHARE UPDATE EXCLUSIVE MODE', p_parent),
            format('LOCK TABLE ONLY %s IN ACCESS EXCLUSIVE MODE', dflt),
            format('WITH moved AS (DELETE FROM ONLY %s WHERE %I >= %L AND %I < %L RETURNING *) INSERT INTO %s SELECT * FROM moved',
                   dflt, col, m_start, col, m_end, qpart)];
    END IF;
    stmts := stmts || ARRAY[
        format('ALTER TABLE %s ATTACH PARTITION %s FOR VALUES FROM (%L) TO (%L)', p_parent, qpart, m_start, m_end),
        -- the partition bound now says the same; free under the lock ATTACH already holds
        format('ALTER TABLE %s DROP CONSTRAINT %I', qpart, chk)];
    attempts := exec_with_lock_retry(part, stmts, p_lock_timeout, p_max_wait);
    EXECUTE format('SELECT count(*) FROM %s', qpart) INTO rows_moved;  -- only our rows: we hold it exclusively
    created := true;
    RETURN NEXT;
END $$;

-- Same signature and result as before (many callers): the monthly partitions between two dates, created
-- through the safe path above with its defaults. Returns how many were created.
CREATE OR REPLACE FUNCTION ensure_monthly_partitions(p_parent regclass, p_from date, p_to date)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    m       date := date_trunc('month', p_from)::date;
    created integer := 0;
    made    boolean;
BEGIN
    IF p_to < p_from THEN
        RAISE EXCEPTION 'ensure_monthly_partitions: % is before %', p_to, p_from;
    END IF;
    WHILE m <= p_to LOOP
        SELECT a.created INTO made FROM attach_monthly_partition(p_parent, m) a;
        IF made THEN
            created := created + 1;
        END IF;
        m := (m + interval '1 month')::date;
    END LOOP;
    RETURN created;
END $$;

-- As in 0003, except the detach: with a DEFAULT partition a plain DETACH takes ACCESS EXCLUSIVE on the
-- parent (CONCURRENTLY is refused), so it goes through exec_with_lock_retry and never queues the
-- product's inserts for longer than its lock_timeout.
CREATE OR REPLACE FUNCTION archive_old_audit_logs(retention interval DEFAULT interval '90 days')
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
            PERFORM exec_with_lock_retry(p.partition_name,
                ARRAY[format('ALTER TABLE audit_logs DETACH PARTITION %I', p.partition_name)]);
            EXECUTE format('DROP TABLE %I', p.partition_name);
        END IF;
    END LOOP;
    RETURN removed;
END $$;

-- DEFAULT first, so no write is refused from here on; then this month and three ahead.
CREATE TABLE audit_logs_default PARTITION OF audit_logs DEFAULT;
CREATE TABLE usage_records_default PARTITION OF usage_records DEFAULT;
SELECT ensure_monthly_partitions(t::regclass, (now() AT TIME ZONE 'UTC')::date,
                                 ((now() AT TIME ZONE 'UTC') + interval '3 months')::date)
FROM unnest(ARRAY['audit_logs', 'usage_records']) t;
