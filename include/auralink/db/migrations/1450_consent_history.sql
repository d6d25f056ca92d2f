-- Consent-aware AI processing (issue 17): what each consent was at any moment, the organization's rule
-- for a missing record, the host's attestation for guests, the skip statuses, and what a withdrawal
-- removed. The rule itself (who must have consented to what, as it stood at the call) is
-- call_consent_gaps() below; auralink.recordings.consent calls it.

-- What a missing consent record means for the organization's members: 'deny' (the cautious default: no
-- consent on record, no processing) or 'allow' (an agreement with the organization covers its members).
ALTER TABLE organizations ADD COLUMN ai_consent_default text NOT NULL DEFAULT 'deny'
    CHECK (ai_consent_default IN ('deny', 'allow'));

-- Guests have no user row and so no consents: the host attests, during the call, that the guests were
-- told the call is recorded, transcribed and summarised by AI, and agreed. Without it, no processing.
ALTER TABLE calls
    ADD COLUMN guest_consent_attested_at timestamptz,
    ADD COLUMN guest_consent_attested_by uuid REFERENCES users (id) ON DELETE SET NULL;
CREATE INDEX calls_guest_consent_attested_by_idx ON calls (guest_consent_attested_by);

-- A recording (or a transcript's summary) skipped because a needed consent was missing: handled, never
-- claimed again, not billed; the reason says whose consent and which purpose (participant ids, no names).
ALTER TABLE call_recordings DROP CONSTRAINT call_recordings_status_check;
ALTER TABLE call_recordings ADD CONSTRAINT call_recordings_status_check
    CHECK (status IN ('pending', 'processing', 'transcribed', 'no_speech', 'skipped_no_consent', 'failed', 'deleted'));
ALTER TABLE call_recordings ADD COLUMN skip_reason text;
ALTER TABLE transcriptions
    ADD COLUMN summary_status text CHECK (summary_status IN ('skipped_no_consent')),
    ADD COLUMN summary_skip_reason text;

-- One row per state a consent entered, in the order it entered them. consents keeps one row per user,
-- organization and purpose (its current state); this keeps every state with the time it took effect.
-- No foreign keys: the history outlives the rows it describes (a deleted consent is a 'deleted' state).
CREATE TABLE consent_history (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    consent_id      bigint      NOT NULL,     -- the consents row (gone once it is deleted)
    user_id         uuid        NOT NULL,
    organization_id uuid        NOT NULL,
    purpose         text        NOT NULL,
    state           text        NOT NULL CHECK (state IN ('granted', 'refused', 'withdrawn', 'deleted')),
    valid_from      timestamptz NOT NULL,     -- when the state took effect
    recorded_at     timestamptz NOT NULL DEFAULT clock_timestamp(),   -- when this row was written
    source          text        NOT NULL CHECK (source IN ('insert', 'update', 'delete', 'backfill'))
);
CREATE INDEX consent_history_key_idx ON consent_history (user_id, organization_id, purpose, valid_from, id);
CREATE INDEX consent_history_ended_idx ON consent_history (valid_from) WHERE state IN ('withdrawn', 'refused');

CREATE FUNCTION consent_history_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'consent_history rows are never rewritten (append a new state instead)';
END $$;
CREATE TRIGGER consent_history_append_only BEFORE UPDATE ON consent_history
    FOR EACH ROW EXECUTE FUNCTION consent_history_frozen();

-- The state a consents row describes: a withdrawal (withdrawn_at) ends a grant; granted = false is a refusal.
CREATE FUNCTION consent_state(p_granted boolean, p_withdrawn_at timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_granted AND p_withdrawn_at IS NOT NULL THEN 'withdrawn'
                WHEN p_granted THEN 'granted' ELSE 'refused' END;
$$;

-- Append the states of a consents row as it was first seen (an insert, or the backfill of the rows that
-- exist when this migration runs): granted or refused at recorded_at, and for a granted row that was
-- withdrawn, withdrawn at withdrawn_at. The row's own times are taken at their word, but a state never
-- takes effect before the one it follows.
CREATE FUNCTION consent_history_append_row(c consents, p_source text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    last_from timestamptz;
BEGIN
    SELECT max(h.valid_from) INTO last_from FROM consent_history h
    WHERE h.user_id = c.user_id AND h.organization_id = c.organization_id AND h.purpose = c.purpose;
    INSERT INTO consent_history (consent_id, user_id, organization_id, purpose, state, valid_from, source)
    VALUES (c.id, c.user_id, c.organization_id, c.purpose, CASE WHEN c.granted THEN 'granted' ELSE 'refused' END,
            GREATEST(c.recorded_at, last_from), p_source);
    IF c.granted AND c.withdrawn_at IS NOT NULL THEN
        INSERT INTO consent_history (consent_id, user_id, organization_id, purpose, state, valid_from, source)
        VALUES (c.id, c.user_id, c.organization_id, c.purpose, 'withdrawn',
                GREATEST(c.withdrawn_at, c.recorded_at, last_from), p_source);
    END IF;
END $$;

-- The product's writes to consents stay as they are; this trigger turns each into history:
--   INSERT: the row's states (above);
--   UPDATE that changes the state: the new state, effective at the time the row states for it (withdrawn_at
--     for a withdrawal, a changed recorded_at for a grant or refusal), else when it is written: flipping
--     `granted` without a new recorded_at never back-dates a grant over calls that happened without it;
--   UPDATE that keeps the state (a re-confirmation): nothing;
--   DELETE: 'deleted' (no consent on record from then on: the organization's default applies).
-- ENABLE ALWAYS: it fires under session_replication_role = replica too (the seed's bulk load, a logical
-- replica of the product's database), so no write of consents escapes the history.
CREATE FUNCTION consents_record_history() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_state text;
    new_state text;
    stated    timestamptz;
    last_from timestamptz;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND (TG_OP = 'DELETE' OR (OLD.user_id, OLD.organization_id, OLD.purpose)
                                          IS DISTINCT FROM (NEW.user_id, NEW.organization_id, NEW.purpose)) THEN
        SELECT max(h.valid_from) INTO last_from FROM consent_history h
        WHERE h.user_id = OLD.user_id AND h.organization_id = OLD.organization_id AND h.purpose = OLD.purpose;
        INSERT INTO consent_history (consent_id, user_id, organization_id, purpose, state, valid_from, source)
        VALUES (OLD.id, OLD.user_id, OLD.organization_id, OLD.purpose, 'deleted', GREATEST(now(), last_from), 'delete');
        IF TG_OP = 'DELETE' THEN
            RETURN OLD;
        END IF;
        PERFORM consent_history_append_row(NEW, 'insert');
        RETURN NEW;
    END IF;
    IF TG_OP = 'INSERT' THEN
        PERFORM consent_history_append_row(NEW, 'insert');
        RETURN NEW;
    END IF;
    old_state := consent_state(OLD.granted, OLD.withdrawn_at);
    new_state := consent_state(NEW.granted, NEW.withdrawn_at);
    IF new_state = old_state THEN
        RETURN NEW;
    END IF;
    stated := CASE WHEN new_state = 'withdrawn' THEN NEW.withdrawn_at
                   WHEN NEW.recorded_at IS DISTINCT FROM OLD.recorded_at THEN NEW.recorded_at
                   ELSE now() END;
    SELECT max(h.valid_from) INTO last_from FROM consent_history h
    WHERE h.user_id = NEW.user_id AND h.organization_id = NEW.organization_id AND h.purpose = NEW.purpose;
    INSERT INTO consent_history (consent_id, user_id, organization_id, purpose, state, valid_from, source)
    VALUES (NEW.id, NEW.user_id, NEW.organization_id, NEW.purpose, new_state, GREATEST(stated, last_from), 'update');
    RETURN NEW;
END $$;
CREATE TRIGGER consents_history AFTER INSERT OR UPDATE OR DELETE ON consents
    FOR EACH ROW EXECUTE FUNCTION consents_record_history();
ALTER TABLE consents ENABLE ALWAYS TRIGGER consents_history;

-- The history of the consents that exist now, as their rows tell it.
SELECT consent_history_append_row(c, 'backfill') FROM consents c ORDER BY c.id;

-- Does a state count as consent? 'granted' does; no record (or a deleted one) does only where the
-- organization's default is 'allow'; a refusal or a withdrawal never does.
CREATE FUNCTION consent_counts(p_state text, p_default text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT COALESCE(p_state, 'deleted') = 'granted'
        OR (COALESCE(p_state, 'deleted') = 'deleted' AND p_default = 'allow');
$$;

-- Why one person's consent to one purpose does not cover something that happened at p_at (no row: it
-- does). It must have counted at p_at, as it stood then, and nothing since may have stopped it (a
-- withdrawal or refusal after the call stops further processing; a grant after the call never reaches
-- back to it). p_until: ignore states that took effect at or after it (a night's end); NULL: all known.
CREATE FUNCTION consent_problem(p_user uuid, p_org uuid, p_purpose text, p_at timestamptz, p_default text,
                                p_until timestamptz DEFAULT NULL)
RETURNS TABLE (problem text, state text, since timestamptz)
LANGUAGE sql STABLE AS $$
    WITH hist AS (
        SELECT h.id, h.state, h.valid_from FROM consent_history h
        WHERE h.user_id = p_user AND h.organization_id = p_org AND h.purpose = p_purpose
          AND (p_until IS NULL OR h.valid_from < p_until)
    ), then_state AS (   -- one row: the state in force at p_at (NULLs: no record yet)
        SELECT x.state, x.since FROM (SELECT 1) AS one
        LEFT JOIN LATERAL (SELECT h.state, h.valid_from AS since FROM hist h WHERE h.valid_from <= p_at
                           ORDER BY h.valid_from DESC, h.id DESC LIMIT 1) x ON true
    ), stop AS (
        SELECT h.state, h.valid_from FROM hist h
        WHERE h.valid_from > p_at AND NOT consent_counts(h.state, p_default)
        ORDER BY h.valid_from, h.id LIMIT 1
    )
    SELECT CASE WHEN COALESCE(t.state, 'deleted') = 'deleted' THEN 'no_record' ELSE t.state END, t.state, t.since
    FROM then_state t WHERE NOT consent_counts(t.state, p_default)
    UNION ALL
    SELECT 'stopped', s.state, s.valid_from
    FROM then_state t CROSS JOIN stop s WHERE consent_counts(t.state, p_default);
$$;

-- Who was in a call, from when: each participant from joining, and the initiator from the start when
-- no participant row names them. user_id NULL: a guest (or a participant whose identity was erased).
CREATE VIEW call_people AS
SELECT p.call_id, c.organization_id, p.id AS participant_id, p.user_id, p.participant_role, p.joined_at AS present_from
FROM call_participants p JOIN calls c ON c.id = p.call_id
UNION ALL
SELECT c.id, c.organization_id, NULL::bigint, c.initiated_by, 'host', c.started_at
FROM calls c
WHERE c.initiated_by IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM call_participants p WHERE p.call_id = c.id AND p.user_id = c.initiated_by);

-- THE RULE: what keeps a call's recording from being processed for p_purposes (no row: nothing does).
--   every person with a user row: consent_problem() for each purpose, in the call's organization;
--   guests: the host's attestation, made by the end of the call (the organization's default does not
--     speak for people outside it);
--   a participant whose user row is gone (erased): no consent can be shown;
--   a call nobody is on record in: no one could have consented.
CREATE FUNCTION call_consent_gaps(p_call uuid, p_purposes text[], p_until timestamptz DEFAULT NULL)
RETURNS TABLE (participant_id bigint, purpose text, problem text, state text, since timestamptz)
LANGUAGE sql STABLE AS $$
    WITH c AS (
        SELECT c.id, c.organization_id, COALESCE(c.ended_at, c.started_at) AS ended_at,
               c.guest_consent_attested_at, o.ai_consent_default
        FROM calls c JOIN organizations o ON o.id = c.organization_id WHERE c.id = p_call
    ), people AS (
        SELECT cp.* FROM call_people cp WHERE cp.call_id = p_call
    )
    SELECT NULL::bigint, NULL::text, 'no_participants', NULL::text, NULL::timestamptz
    FROM c WHERE NOT EXISTS (SELECT 1 FROM people)
    UNION ALL
    SELECT p.participant_id, NULL, 'guest_unattested', NULL, NULL
    FROM people p CROSS JOIN c
    WHERE p.user_id IS NULL AND p.participant_role = 'guest'
      AND (c.guest_consent_attested_at IS NULL OR c.guest_consent_attested_at > c.ended_at)
    UNION ALL
    SELECT p.participant_id, NULL, 'unknown_participant', NULL, NULL
    FROM people p WHERE p.user_id IS NULL AND p.participant_role <> 'guest'
    UNION ALL
    SELECT p.participant_id, pur.purpose, x.problem, x.state, x.since
    FROM people p CROSS JOIN c CROSS JOIN unnest(p_purposes) AS pur(purpose)
    CROSS JOIN LATERAL consent_problem(p.user_id, c.organization_id, pur.purpose, p.present_from,
                                       c.ai_consent_default, p_until) x
    WHERE p.user_id IS NOT NULL;
$$;

-- What enforce_consent_withdrawals did, one row per item and withdrawal: removed, or kept under a legal
-- hold (the hold named). A held item is looked at again every night; its 'removed' row follows once the
-- hold is released.
CREATE TABLE consent_withdrawal_removals (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    withdrawal_id   bigint      NOT NULL REFERENCES consent_history (id) ON DELETE CASCADE,
    organization_id uuid        NOT NULL,
    item_type       text        NOT NULL CHECK (item_type IN ('transcript', 'summary')),
    item_id         bigint      NOT NULL,     -- transcriptions.id / call_summaries.id (the row is gone once removed)
    call_id         uuid        NOT NULL,
    recording_id    uuid,
    outcome         text        NOT NULL CHECK (outcome IN ('removed', 'held')),
    hold_reason     text,
    job_run_id      bigint      REFERENCES job_runs (id) ON DELETE SET NULL,
    night_end       timestamptz NOT NULL,     -- the end of the night whose run did it
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (withdrawal_id, item_type, item_id, outcome),
    CHECK ((outcome = 'held') = (hold_reason IS NOT NULL))
);
CREATE INDEX consent_withdrawal_removals_org_idx ON consent_withdrawal_removals (organization_id, recorded_at);
CREATE INDEX consent_withdrawal_removals_run_idx ON consent_withdrawal_removals (job_run_id);
