"""What a data-subject request may ask: its type and its scope, parsed in one place.

Used when a request is submitted (``auralink compliance submit``, ``requests.submit_request``) and again
when the processor takes a stored row, since the product writes ``compliance_requests`` too. Whatever
the input, the outcome is a parsed value or :class:`RequestRejected` (a ValueError) with a reason a
requester can read; never a TypeError from iterating the wrong thing.

Scope keys: ``format`` (export format asked for), ``organization_only`` (true: only the requesting
organization's data), ``categories`` (erasure: ``"all"`` or a list of :data:`erasure.DEFAULT_SCOPE`
names; absent or empty: all) and ``changes`` (rectification: ``{field: new value}``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from auralink import safejson
from auralink.compliance.erasure import DEFAULT_SCOPE

REQUEST_TYPES = ("export", "deletion", "rectification")
STANDARDS = ("GDPR", "HIPAA", "SOC2")
RECTIFIABLE = ("full_name", "phone", "email", "locale", "country")
SCOPE_KEYS = ("format", "organization_only", "categories", "changes")
ALL = "all"
# A scope is a handful of keys; an e-mail address is at most 320 characters.
LIMITS = safejson.Limits(max_bytes=16 * 1024, max_depth=4, max_items=50, max_string=320)


class RequestRejected(ValueError):
    """The request cannot be carried out as asked; the message goes on the request row."""


@dataclass(frozen=True)
class Scope:
    format: str | None = None
    organization_only: bool = False
    categories: tuple[str, ...] = DEFAULT_SCOPE
    changes: dict[str, str | None] = field(default_factory=dict)


def parse_request_type(value: Any) -> str:
    if not isinstance(value, str) or value not in REQUEST_TYPES:
        raise RequestRejected(f"unsupported request type {_show(value)} (supported: {', '.join(REQUEST_TYPES)})")
    return value


def scope_document(value: Any) -> dict[str, Any]:
    """The scope as stored: a JSON object (given as JSON text or a dict) within :data:`LIMITS`.

    Only its shape is checked here; what it asks for is judged by :func:`parse_scope` when the request is
    carried out, so a request asking for something unsupported is still recorded and answered on its row.
    """
    if value is None or value == "":
        return {}
    try:
        if isinstance(value, (str, bytes, bytearray)):
            value = safejson.loads(value, LIMITS)
        else:
            safejson.check(value, LIMITS)
    except safejson.JsonLimitError as exc:
        raise RequestRejected(f"scope.{exc.path}: {exc.reason}" if exc.path else f"scope {exc.reason}") from None
    if not isinstance(value, dict):
        raise RequestRejected(f"scope must be a JSON object such as {{\"categories\": [...]}}, not {_kind(value)}")
    return value


def parse_scope(value: Any, request_type: str) -> Scope:
    """The scope of a request of ``request_type``, checked against what the processor can do."""
    doc = scope_document(value)
    unknown = sorted(set(doc) - set(SCOPE_KEYS))
    if unknown:
        raise RequestRejected(f"unknown scope key(s) {', '.join(unknown)} (known: {', '.join(SCOPE_KEYS)})")
    fmt = doc.get("format")
    if fmt is not None and not isinstance(fmt, str):
        raise RequestRejected(f"scope.format must be a format name, not {_kind(fmt)}")
    org_only = doc.get("organization_only", False)
    if not isinstance(org_only, bool):
        raise RequestRejected(f"scope.organization_only must be true or false, not {_kind(org_only)}")
    categories = _categories(doc.get("categories")) if request_type == "deletion" else DEFAULT_SCOPE
    changes = _changes(doc.get("changes")) if request_type == "rectification" else {}
    return Scope(fmt.lower() if fmt else None, org_only, categories, changes)


def _categories(value: Any) -> tuple[str, ...]:
    if value is None or value == [] or value == ALL:
        return DEFAULT_SCOPE
    if not isinstance(value, list):   # a string here once became its characters: "unknown categories: a, l"
        raise RequestRejected(f"scope.categories must be \"all\" or a list of categories, not {_kind(value)} "
                              f"(known: {', '.join(DEFAULT_SCOPE)})")
    if not all(isinstance(c, str) for c in value):
        raise RequestRejected("scope.categories must list category names (strings)")
    if ALL in value:
        return DEFAULT_SCOPE
    unknown = sorted(set(value) - set(DEFAULT_SCOPE))
    if unknown:
        raise RequestRejected(f"unknown erasure scope categories: {', '.join(unknown)} "
                              f"(known: {', '.join(DEFAULT_SCOPE)}, or \"all\")")
    return tuple(dict.fromkeys(value))


def _changes(value: Any) -> dict[str, str | None]:
    if not isinstance(value, dict) or not value:
        raise RequestRejected("rectification needs scope.changes, e.g. {\"full_name\": \"...\"}")
    bad = sorted(set(value) - set(RECTIFIABLE))
    if bad:
        raise RequestRejected(f"cannot rectify {', '.join(bad)} (allowed: {', '.join(RECTIFIABLE)})")
    for key, new in value.items():
        if new is not None and not isinstance(new, str):
            raise RequestRejected(f"scope.changes.{key} must be a string or null, not {_kind(new)}")
    return dict(value)


def _kind(value: Any) -> str:
    if isinstance(value, str):
        return f"the string {_show(value)}"
    return {dict: "an object", list: "a list", bool: "a boolean", type(None): "null"}.get(
        type(value), f"the number {_show(value)}" if isinstance(value, (int, float)) else type(value).__name__)


def _show(value: Any) -> str:
    """A short, printable rendering of any value (no repr of nested containers: that recurses)."""
    if isinstance(value, str):
        text = json.dumps(value[:60], ensure_ascii=True)
    elif isinstance(value, bool) or value is None or isinstance(value, float):
        text = json.dumps(value)
    elif isinstance(value, int):
        text = str(value) if value.bit_length() < 200 else "(a very large number)"
    else:
        return type(value).__name__
    return text if len(text) <= 60 else text[:57] + "..."
