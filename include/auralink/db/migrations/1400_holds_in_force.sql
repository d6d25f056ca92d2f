-- The holds in force, as a set: the companion of legal_hold_applies() for bulk paths that join the holds
-- instead of calling the function once per row (archival moves a whole partition's held rows in one pass).
-- The rule (a hold on the organization, on the user, or on the resource itself) is legal_hold_applies'; the
-- bulk matcher over these rows is bound to it by a parity test (tests/compliance/test_archival.py).
CREATE FUNCTION legal_holds_in_force()
RETURNS TABLE (hold_id bigint, scope text, organization_id uuid, user_id uuid, resource_type text, resource_id text)
LANGUAGE sql STABLE AS $$
    SELECT h.id, h.scope, h.organization_id, h.user_id, h.resource_type, h.resource_id
    FROM legal_holds h
    WHERE h.released_at IS NULL;
$$;
