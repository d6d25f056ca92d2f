"""Property-based: whatever a report definition holds (any JSON, any text, any bytes), validating it
ends in a ReportDefinition or a ReportDefinitionError, never another exception."""

from __future__ import annotations

import json

from auralink.reports.definition import ReportDefinition, ReportDefinitionError, validate
from auralink.reports.query import build_query
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
EXAMPLE = {"metrics": [{"column": "call_minutes", "agg": "sum"}], "dimensions": ["day"],
           "filters": [{"column": "call_type", "op": "=", "value": "video"}], "date_range": {"last_days": 30},
           "chart": {"type": "line"}}

scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-10**5000, max_value=10**5000)
           | st.builds(pow, st.sampled_from([2, -2, 10]), st.sampled_from([63, 64, 5000]))   # past 64 bits
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=300)
           | st.sampled_from(["calls", "call_minutes", "sum", "avg", "day", "region", "in", "not in", "=", "video",
                              "last_days", "line", "\x00", "\ud800"]))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=12)
                           | st.dictionaries(st.text(max_size=20) | st.sampled_from(sorted(EXAMPLE)), inner,
                                             max_size=8), max_leaves=40)
# Near-valid definitions: the example with any key replaced by anything, and nested parts replaced too.
near_valid = st.builds(lambda key, value, extra: {**EXAMPLE, key: value, **extra},
                       st.sampled_from(sorted(EXAMPLE) + ["source", "limit", "title", "sql"]), json_values,
                       st.dictionaries(st.sampled_from(["limit", "title", "source"]), json_values, max_size=2))
filters = st.builds(lambda col, op, value: {**EXAMPLE, "filters": [{"column": col, "op": op, "value": value}]},
                    st.sampled_from(["region", "call_type", "call_minutes", "status"]) | st.text(max_size=10),
                    st.sampled_from(["=", "!=", "<", "in", "not in", "not_in", "IN"]) | st.text(max_size=5),
                    json_values)


def _check(raw) -> None:
    try:
        defn = validate(raw)
    except ReportDefinitionError:
        return
    assert isinstance(defn, ReportDefinition)
    build_query(defn)   # whatever validates can be turned into SQL


@SETTINGS
@given(json_values | near_valid | filters)
def test_any_json_value_validates_or_is_refused_cleanly(raw):
    _check(raw)


@SETTINGS
@given(json_values | near_valid | filters)
def test_any_json_text_validates_or_is_refused_cleanly(raw):
    try:
        text = json.dumps(raw)
    except ValueError:      # integers past str()'s digit limit cannot even be written
        return
    _check(text)
    _check(text.encode())


@SETTINGS
@given(st.text(max_size=2_000) | st.binary(max_size=2_000)
       | st.builds(lambda n, inner: "[" * n + inner + "]" * n, st.integers(0, 30_000), st.text(max_size=20)))
def test_any_text_or_bytes_validates_or_is_refused_cleanly(raw):
    _check(raw)
