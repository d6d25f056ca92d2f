"""Property-based: whatever a request's type and scope hold, parsing them ends in a value or
RequestRejected (a ValueError with a reason), never another exception."""

from __future__ import annotations

import json

from auralink.compliance.scope import (
    REQUEST_TYPES,
    RequestRejected,
    Scope,
    parse_request_type,
    parse_scope,
    scope_document,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-10**5000, max_value=10**5000)
           | st.builds(pow, st.sampled_from([2, -2, 10]), st.sampled_from([63, 64, 5000]))   # past 64 bits
           | st.floats() | st.text(max_size=400)
           | st.sampled_from(["all", "calls", "export", "deletion", "full_name", "json", "\x00", "\ud800"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=10)
                      | st.dictionaries(st.text(max_size=20), inner, max_size=6), max_leaves=30)
scopes = values | st.fixed_dictionaries({}, optional={
    "categories": values | st.lists(st.sampled_from(["calls", "recordings", "all", "nope"]), max_size=5),
    "changes": values | st.dictionaries(st.sampled_from(["full_name", "phone", "email", "is_active"]), values),
    "organization_only": values, "format": values})
types = st.sampled_from(REQUEST_TYPES) | scalars


@SETTINGS
@given(types, scopes)
def test_any_type_and_scope_parse_or_are_rejected_cleanly(request_type, scope):
    try:
        kind = parse_request_type(request_type)
    except RequestRejected:
        kind = "deletion"
    for candidate in (scope, _as_text(scope)):
        try:
            parsed = parse_scope(candidate, kind)
        except RequestRejected as exc:
            assert str(exc)
            continue
        assert isinstance(parsed, Scope)
        assert all(isinstance(c, str) for c in parsed.categories)   # never the characters of a string
        assert all(isinstance(v, (str, type(None))) for v in parsed.changes.values())


@SETTINGS
@given(st.text(max_size=3_000) | st.binary(max_size=3_000)
       | st.builds(lambda n: "[" * n + "]" * n, st.integers(0, 20_000)))
def test_any_scope_text_is_an_object_or_rejected_cleanly(text):
    try:
        assert isinstance(scope_document(text), dict)
    except RequestRejected:
        pass


def _as_text(value):
    try:
        return json.dumps(value)
    except ValueError:
        return "{}"
