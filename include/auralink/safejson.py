"""Bounded JSON for untrusted documents (report definitions, request scopes): size, depth, lengths, content.

``json.loads`` recurses once per nesting level and raises RecursionError (not ValueError) past about
1,000 levels, while PostgreSQL's jsonb accepts far deeper documents. So the depth is measured on the
text without recursion *before* parsing, and on Python objects with an explicit stack. Strings that
PostgreSQL cannot store (NUL, lone surrogates) are refused here rather than by a confusing database
error later. Every refusal is a :class:`JsonLimitError` (a ValueError) naming where and what.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any


class JsonLimitError(ValueError):
    """The document is too big, too deep, not JSON, or holds something PostgreSQL cannot store.

    ``path`` is where (``filters[0].value``; empty: the whole document), ``reason`` a predicate such as
    ``is nested 10,000 levels deep; ...`` so callers can say ``definition <reason>`` or ``<path>: <reason>``.
    """

    def __init__(self, reason: str, path: str = ""):
        super().__init__(f"{path}: {reason}" if path else reason)
        self.reason, self.path = reason, path


@dataclass(frozen=True)
class Limits:
    max_bytes: int      # UTF-8 size of the JSON text
    max_depth: int      # nested objects/lists: {"a": [1]} is 2
    max_items: int      # entries of one object or list
    max_string: int     # characters of one string (keys included)


# A JSON string token; what is left once they are removed holds every structural bracket.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


def text_depth(text: str) -> int:
    """Deepest nesting of a JSON text, without parsing it (no recursion, linear time)."""
    depth = peak = 0
    for ch in _BRACKET.findall(_STRING.sub("", text)):
        if ch in "[{":
            depth += 1
            peak = max(peak, depth)
        else:
            depth = max(0, depth - 1)
    return peak


def _size_error(size: int, limits: Limits) -> JsonLimitError:
    return JsonLimitError(f"is {size:,} bytes of JSON; at most {limits.max_bytes:,} are allowed")


def loads(text: str | bytes | bytearray, limits: Limits) -> Any:
    """Parse ``text`` within ``limits``; raises JsonLimitError, never RecursionError or anything else."""
    if isinstance(text, (bytes, bytearray)):
        if len(text) > limits.max_bytes:
            raise _size_error(len(text), limits)
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            raise JsonLimitError("is not UTF-8 text") from None
    if len(text) > limits.max_bytes:   # characters <= bytes: a cheap first cut
        raise _size_error(len(text), limits)
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise JsonLimitError("is not valid Unicode (it holds a lone surrogate)") from None
    if size > limits.max_bytes:
        raise _size_error(size, limits)
    depth = text_depth(text)
    if depth > limits.max_depth:
        raise JsonLimitError(f"is nested {depth:,} levels deep; at most {limits.max_depth} are allowed")
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise JsonLimitError(f"is not valid JSON: {exc.msg} (line {exc.lineno})") from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer of more than 4,300 digits
        raise JsonLimitError(f"is not valid JSON: {exc}") from None
    check(value, limits)
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def check(value: Any, limits: Limits) -> None:
    """Check an already parsed document (or a dict built in Python) against ``limits``, iteratively."""
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        node, path, depth = stack.pop()
        if isinstance(node, (dict, list)):
            depth += 1
            if depth > limits.max_depth:
                raise JsonLimitError(f"is nested more than {limits.max_depth} levels deep", path)
            if len(node) > limits.max_items:
                raise JsonLimitError(f"has {len(node):,} entries; at most {limits.max_items} are allowed", path)
            if isinstance(node, dict):
                for key, item in node.items():
                    if not isinstance(key, str):
                        raise JsonLimitError(f"has a key that is not a string ({type(key).__name__})", path)
                    _check_string(key, path, limits, "has a key that")
                    stack.append((item, f"{path}.{key}" if path else key, depth))
            else:
                stack.extend((item, f"{path}[{i}]", depth) for i, item in enumerate(node))
        elif isinstance(node, str):
            _check_string(node, path, limits)
        elif isinstance(node, float):
            if not math.isfinite(node):
                raise JsonLimitError(f"is {node}, not a JSON number", path)
        elif isinstance(node, int) and not isinstance(node, bool) and node.bit_length() > 63:
            # Nothing needs more; and str() of one past 4,300 digits raises ValueError in error messages.
            raise JsonLimitError(f"is an integer of {node.bit_length():,} bits; at most 64-bit integers are allowed",
                                 path)
        elif node is not None and not isinstance(node, (bool, int)):
            raise JsonLimitError(f"is a {type(node).__name__}, not a JSON value", path)


def _check_string(text: str, path: str, limits: Limits, subject: str = "") -> None:
    lead = f"{subject} " if subject else ""
    if len(text) > limits.max_string:
        raise JsonLimitError(f"{lead or 'is a string that '}has {len(text):,} characters; at most "
                             f"{limits.max_string} are allowed", path)
    if "\x00" in text:
        raise JsonLimitError(f"{lead}holds a NUL character (\\u0000), which PostgreSQL cannot store", path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise JsonLimitError(f"{lead}is not valid Unicode (it holds a lone surrogate)", path) from None
