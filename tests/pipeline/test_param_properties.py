"""Property-based: any text given for any job parameter (as `-p key=value`, an Airflow Param or an Argo
parameter arrives) is either coerced to the declared type within its bounds or refused as a usage error
(ValueError, one line, naming the job and parameter); nothing else ever escapes."""

from __future__ import annotations

import pytest
from auralink.jobs import registry
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

PARAMS = [(j.name, p) for j in registry.all_jobs() for p in j.parameters()]
TEXT = st.one_of(st.text(max_size=40), st.sampled_from(["", "0", "-1", "1e309", "nan", "inf", "true", "no", "null",
                                                         "2026-02-30", "00000000-0000-0000-0000-000000000000",
                                                         "[1,2", "{\"a\": 1}", "9" * 40, "\x00"]))


@pytest.mark.parametrize("job_name, param", PARAMS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=TEXT)
def test_any_text_is_coerced_or_refused_as_a_usage_error(job_name, param, value):
    job_def = registry.get_job(job_name)
    try:
        coerced = registry.coerce_value(job_def, param, value)
    except ValueError as exc:
        message = str(exc)
        assert "\n" not in message and job_name in message and param in message
        return
    # What passed is valid for the declared schema: coercing it again gives the same value.
    if coerced is not None:
        assert registry.coerce_value(job_def, param, coerced) == coerced


def test_bounds_come_from_the_declaration():
    job_def = registry.get_job("transcribe_recordings")
    assert registry.coerce_value(job_def, "batch_size", "50") == 50
    for bad in ("0", "501", "many", ""):
        with pytest.raises(ValueError, match="transcribe_recordings: parameter batch_size"):
            registry.coerce_value(job_def, "batch_size", bad)
