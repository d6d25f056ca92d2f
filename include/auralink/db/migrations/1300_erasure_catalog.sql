-- Erasure driven by the data catalog (include/auralink/compliance/catalog.yaml): a subject's rows are
-- found from their identity through indexed columns and the references between tables, and mentions of
-- them in other people's rows through a words index over the free-text columns, never by reading whole
-- tables. tests/compliance/test_catalog.py checks that these indexes cover exactly what the catalog says.

-- The words of some text as erasure looks for identifiers in it: lower case, every run of letters and
-- digits one word (so "alice.liddell@example.com", "/users/5eed...-000a" and "+44 20 7946 0958" split the
-- same way wherever they appear), positions dropped. The input is cut at 300,000 characters so a huge
-- value can never exceed tsvector's 1 MB (a write must never fail because of this index).
CREATE FUNCTION erasure_document(VARIADIC parts text[])
RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT strip(to_tsvector('simple'::regconfig,
                 regexp_replace(lower(left(array_to_string(parts, ' '), 300000)), '[^[:alnum:]]+', ' ', 'g')));
$$;

-- Any one of the identifiers, each with all of its words: the candidates an exact, whole-token regex then
-- confirms. NULL when no identifier has a word (nothing to look for).
CREATE FUNCTION erasure_query(VARIADIC identifiers text[])
RETURNS tsquery LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT string_agg('(' || plainto_tsquery('simple'::regconfig, w)::text || ')', ' | ')::tsquery
    FROM (SELECT regexp_replace(lower(i), '[^[:alnum:]]+', ' ', 'g') AS w FROM unnest(identifiers) i) n
    WHERE w ~ '[[:alnum:]]';
$$;

-- Replace each pattern (case-insensitive) by its replacement, in order: the pseudonymization of text.
CREATE FUNCTION erasure_rewrite(value text, patterns text[], replacements text[])
RETURNS text LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    i integer;
BEGIN
    FOR i IN 1 .. coalesce(array_length(patterns, 1), 0) LOOP
        IF patterns[i] IS NOT NULL THEN
            value := regexp_replace(value, patterns[i], replacements[i], 'gi');
        END IF;
    END LOOP;
    RETURN value;
END $$;

-- Identity lookups the catalog's link rules use (the others had an index already).
CREATE INDEX audit_logs_actor_email_idx ON audit_logs (lower(actor_email));
CREATE INDEX audit_logs_user_resource_idx ON audit_logs (resource_id) WHERE resource_type = 'user';
CREATE INDEX audit_logs_archive_actor_idx ON audit_logs_archive (actor_user_id);
CREATE INDEX audit_logs_archive_actor_email_idx ON audit_logs_archive (lower(actor_email));
CREATE INDEX audit_logs_archive_user_resource_idx ON audit_logs_archive (resource_id) WHERE resource_type = 'user';
CREATE INDEX audit_logs_held_actor_email_idx ON audit_logs_held (lower(actor_email));
CREATE INDEX audit_logs_held_user_resource_idx ON audit_logs_held (resource_id) WHERE resource_type = 'user';
CREATE INDEX usage_records_user_idx ON usage_records (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX compliance_requests_subject_email_idx ON compliance_requests (lower(subject_email));
CREATE INDEX invoices_billing_email_idx ON invoices (lower(billing_email));
CREATE INDEX casbin_rule_v0_idx ON casbin_rule (v0);
CREATE INDEX legal_holds_user_idx ON legal_holds (user_id) WHERE user_id IS NOT NULL;

-- Words indexes over the columns the catalog marks as possibly mentioning people (free text, and names
-- or e-mails that are not themselves a lookup key), one per table, in the catalog's column order.
CREATE INDEX transcriptions_erasure_words_idx ON transcriptions
    USING gin (erasure_document(text, redacted_text, segments::text, summary_error));
CREATE INDEX call_summaries_erasure_words_idx ON call_summaries
    USING gin (erasure_document(summary, action_items::text));
CREATE INDEX call_participants_erasure_words_idx ON call_participants
    USING gin (erasure_document(display_name));
CREATE INDEX call_recordings_erasure_words_idx ON call_recordings
    USING gin (erasure_document(failure_reason));
CREATE INDEX ai_usage_erasure_words_idx ON ai_usage
    USING gin (erasure_document(metadata::text));
CREATE INDEX audit_logs_erasure_words_idx ON audit_logs
    USING gin (erasure_document(request_metadata::text, response_metadata::text, old_values::text, new_values::text));
CREATE INDEX audit_logs_archive_erasure_words_idx ON audit_logs_archive
    USING gin (erasure_document(request_metadata::text, response_metadata::text, old_values::text, new_values::text));
CREATE INDEX audit_logs_held_erasure_words_idx ON audit_logs_held
    USING gin (erasure_document(request_metadata::text, response_metadata::text, old_values::text, new_values::text));
CREATE INDEX security_events_erasure_words_idx ON security_events
    USING gin (erasure_document(description, evidence::text, dedup_key));
CREATE INDEX compliance_requests_erasure_words_idx ON compliance_requests
    USING gin (erasure_document(scope::text, requested_by, extension_reason, error));
CREATE INDEX api_keys_erasure_words_idx ON api_keys
    USING gin (erasure_document(name));
CREATE INDEX custom_reports_erasure_words_idx ON custom_reports
    USING gin (erasure_document(name, definition::text, last_error));
CREATE INDEX report_runs_erasure_words_idx ON report_runs
    USING gin (erasure_document(error));
CREATE INDEX job_runs_erasure_words_idx ON job_runs
    USING gin (erasure_document(params::text, stats::text, error));
CREATE INDEX job_run_items_erasure_words_idx ON job_run_items
    USING gin (erasure_document(reason));
CREATE INDEX data_quality_results_erasure_words_idx ON data_quality_results
    USING gin (erasure_document(observed::text, description));
CREATE INDEX retention_runs_erasure_words_idx ON retention_runs
    USING gin (erasure_document(details::text, error));
CREATE INDEX airflow_dag_runs_erasure_words_idx ON airflow_dag_runs
    USING gin (erasure_document(conf::text, error));
CREATE INDEX airflow_task_runs_erasure_words_idx ON airflow_task_runs
    USING gin (erasure_document(error));
CREATE INDEX argo_workflows_erasure_words_idx ON argo_workflows
    USING gin (erasure_document(parameters::text, error));
