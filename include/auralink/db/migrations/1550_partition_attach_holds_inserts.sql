-- attach_monthly_partition() (migration 1100), with one change: while a month is attached beside a DEFAULT
-- partition, the parent is held in SHARE ROW EXCLUSIVE instead of ATTACH's SHARE UPDATE EXCLUSIVE.
-- Why: an insert that had opened the parent before the attach, and been routed to DEFAULT, waited for
-- DEFAULT's lock and then failed on DEFAULT's new partition constraint (a product write refused). Holding
-- the parent against inserts for the attempt makes them wait and then route to the new month. Each attempt is
-- still one short lock_timeout, so writes to any month wait at most one attempt. The rest is as in 1100: a
-- standalone table LIKE the parent with a CHECK matching the bounds (so ATTACH skips scanning it), that month's
-- rows moved out of DEFAULT into it, then ATTACH PARTITION, all in one attempt of exec_with_lock_retry. A
-- transaction-level advisory lock per parent serialises two creators. A month already covered is left alone.
CREATE OR REPLACE FUNCTION attach_monthly_partition(p_parent regclass, p_month date,
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
        -- ATTACH's lock order (parent, then DEFAULT), taken before the move so no row of the month can reach
        -- DEFAULT between the move and the attach; the parent against inserts (see above).
        stmts := stmts || ARRAY[
            format('LOCK TABLE ONLY %s IN SHARE ROW EXCLUSIVE MODE', p_parent),
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
