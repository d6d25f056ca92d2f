"""Run tracking: every Argo workflow records itself in ``argo_workflows`` (upsert on its uid).

A workflow calls ``auralink argo record`` twice: from its first step (status Running) and from its exit
handler (Succeeded / Failed / Error, with ``{{workflow.failures}}``). Retries and out-of-order calls are
safe: a final status is never overwritten by a later Running, and the earliest start time wins.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from auralink.db.connection import connect

STATUSES = ("Pending", "Running", "Succeeded", "Failed", "Error")
FINAL_STATUSES = ("Succeeded", "Failed", "Error")
MAX_ERROR_CHARS = 4000


@dataclass
class WorkflowRun:
    """What one call records about a workflow; ``None`` fields keep what the row already has."""

    name: str
    uid: str
    template: str
    status: str
    namespace: str = "default"
    parameters: dict[str, Any] = field(default_factory=dict)
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    error: str | None = None

    def __post_init__(self) -> None:
        for label, value in (("name", self.name), ("uid", self.uid), ("template", self.template),
                             ("namespace", self.namespace)):
            if not value or not value.strip():
                raise ValueError(f"workflow {label} is empty")
            # An unresolved Argo variable means the step ran outside Argo or the YAML has a typo.
            if "{{" in value:
                raise ValueError(f"workflow {label} is an unresolved Argo variable: {value!r}")
        if self.status not in STATUSES:
            raise ValueError(f"workflow status must be one of {', '.join(STATUSES)}, got {self.status!r}")
        if self.status in FINAL_STATUSES and self.finished_at is None:
            self.finished_at = dt.datetime.now(dt.UTC)


def parse_timestamp(text: str | None) -> dt.datetime | None:
    """An RFC 3339 time (``{{workflow.creationTimestamp}}``); empty means unknown."""
    if text is None or not text.strip():
        return None
    try:
        value = dt.datetime.fromisoformat(text.strip())  # Python 3.11 reads the trailing Z
    except ValueError:
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def summarize_failures(failures: str | None) -> str | None:
    """One line per failed node from ``{{workflow.failures}}`` (a JSON list, ``null`` when nothing failed)."""
    if failures is None:
        return None
    text = failures.strip()
    if text in ("", "null", "[]") or text == "{{workflow.failures}}":
        return None
    try:
        nodes = json.loads(text)
    except json.JSONDecodeError:
        return text[:MAX_ERROR_CHARS]  # not JSON: keep what Argo gave us rather than lose it
    if not isinstance(nodes, list):
        return text[:MAX_ERROR_CHARS]
    lines = []
    for node in nodes:
        if not isinstance(node, dict):
            lines.append(str(node))
            continue
        where = node.get("displayName") or node.get("templateName") or "?"
        template = node.get("templateName")
        label = f"{where} ({template})" if template and template != where else where
        lines.append(f"{label} {node.get('phase', 'Failed')}: {node.get('message') or 'no message'}")
    return "; ".join(lines)[:MAX_ERROR_CHARS] or None


_UPSERT = """
INSERT INTO argo_workflows (name, uid, namespace, template, status, parameters, started_at, finished_at, error)
VALUES (%(name)s, %(uid)s, %(namespace)s, %(template)s, %(status)s, %(parameters)s,
        COALESCE(%(started_at)s, now()), %(finished_at)s, %(error)s)
ON CONFLICT (uid) DO UPDATE SET
    name       = EXCLUDED.name,
    namespace  = EXCLUDED.namespace,
    template   = EXCLUDED.template,
    status     = CASE WHEN argo_workflows.status IN ('Succeeded', 'Failed', 'Error')
                       AND EXCLUDED.status IN ('Pending', 'Running')
                      THEN argo_workflows.status ELSE EXCLUDED.status END,
    parameters = argo_workflows.parameters || EXCLUDED.parameters,
    started_at = LEAST(argo_workflows.started_at, EXCLUDED.started_at),
    finished_at = COALESCE(EXCLUDED.finished_at, argo_workflows.finished_at),
    error      = COALESCE(EXCLUDED.error, argo_workflows.error),
    updated_at = now()
RETURNING id, name, uid, namespace, template, status, parameters, started_at, finished_at, error
"""


def record_run(run: WorkflowRun, url: str | None = None) -> dict[str, Any]:
    """Insert or update the row of ``run.uid``; returns the row as stored."""
    params = {
        "name": run.name, "uid": run.uid, "namespace": run.namespace, "template": run.template,
        "status": run.status, "parameters": Jsonb(run.parameters), "started_at": run.started_at,
        "finished_at": run.finished_at, "error": run.error,
    }
    with (connect(url, autocommit=True, application_name="auralink:argo-record") as conn,
          conn.cursor(row_factory=dict_row) as cur):
        row = cur.execute(_UPSERT, params).fetchone()
        assert row is not None  # the upsert always RETURNs the row
        return row


def recent_runs(limit: int = 20, template: str | None = None, url: str | None = None) -> list[dict[str, Any]]:
    """The latest tracked runs, newest first."""
    with connect(url, application_name="auralink:argo-runs") as conn, conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT name, uid, namespace, template, status, started_at, finished_at, error FROM argo_workflows"
            " WHERE %(template)s::text IS NULL OR template = %(template)s"
            " ORDER BY started_at DESC, id DESC LIMIT %(limit)s",
            {"template": template, "limit": limit},
        ).fetchall()


def parse_parameters(text: str | None) -> dict[str, Any]:
    """``{{workflow.parameters.json}}``: Argo gives a JSON list of {name, value}; a plain object works too."""
    if text is None or not text.strip() or "{{" in text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise ValueError(f"workflow parameters are not JSON: {text[:200]!r}") from None
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    if isinstance(value, list):
        out = {}
        for item in value:
            if not isinstance(item, dict) or "name" not in item:
                raise ValueError(f"workflow parameters: expected a list of {{name, value}}, got {item!r}")
            out[item["name"]] = item.get("value", item.get("default"))
        return out
    raise ValueError(f"workflow parameters must be a JSON object or list, got {type(value).__name__}")
