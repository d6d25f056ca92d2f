-- Report definitions are written by the product straight into custom_reports, and jsonb accepts
-- documents thousands of levels deep that no valid definition needs (json.loads cannot even parse them).
-- Writes past the bounds auralink.reports.definition enforces on load are refused here with a clear
-- message: 64 KiB of JSON text (MAX_DEFINITION_BYTES) and 8 levels of nesting (MAX_DEFINITION_DEPTH;
-- tests/reports check the numbers agree). The full allow-list check stays in Python.
-- A trigger rather than a CHECK: a CHECK is re-evaluated on every UPDATE, and a row stored before this
-- migration must still let the report job record that row's failure (last_status, last_error).

CREATE FUNCTION custom_reports_definition_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    size integer := octet_length(NEW.definition::text);
BEGIN
    IF size > 65536 THEN
        RAISE EXCEPTION 'report definition is % bytes of JSON; at most 65536 are allowed', size
            USING ERRCODE = 'check_violation';
    END IF;
    -- A container 8 levels below the top means 9 levels of nesting. strict: no lax unwrapping of arrays.
    IF jsonb_path_exists(NEW.definition, 'strict $.**{8} ? (@.type() == "array" || @.type() == "object")') THEN
        RAISE EXCEPTION 'report definition is nested more than 8 levels deep'
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER custom_reports_definition_guard
    BEFORE INSERT OR UPDATE OF definition ON custom_reports
    FOR EACH ROW EXECUTE FUNCTION custom_reports_definition_guard();
