"""Files that may show an erased subject, each found through its record (never by walking the storage):

* other people's exports (``compliance_requests.result_location``) that include a row erasure rewrote (a
  shared call's transcript, an audit event by them about the subject): generated again from the
  pseudonymized database, at the same location, with the new checksum on the request;
* custom report outputs (``report_runs.outputs``) of reports whose name or definition named the subject:
  JSON and CSV rewritten, the PDF rendered again from the rewritten JSON;
* compliance reports (``job_runs`` of ``compliance_report`` for the subject's organizations; their access
  review lists members): JSON rewritten, the PDF rendered again from it, checksums updated on the run;
* Data Docs pages and validation results of the quality-gate runs whose results named the subject
  (``data_quality_results.ge_run_name``): rewritten in place.

A file whose record is under a legal hold is left as it is and listed as held. The subject's own exports
and solo audio are deleted by the table step (their file columns say ``erase: delete``).
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auralink.compliance import holds, storage

if TYPE_CHECKING:
    from auralink.compliance.erasure import _Erasure


def reach(er: _Erasure) -> None:
    other_exports(er)
    report_outputs(er)
    compliance_reports(er)
    data_docs(er)


def _local(url: str) -> str:
    return url.removeprefix("file://")


def _rewrite_text_file(er: _Erasure, url: str) -> bool:
    """Rewrite a text file without the subject; True when it changed."""
    path = _local(url)
    if not storage.exists(path):
        return False
    text = storage.read_bytes(path).decode("utf-8", errors="replace")
    assert er.pats is not None
    if not er.pats.found(text):
        return False
    storage.write_bytes(path, er.pats.rewrite(text).encode("utf-8"))
    er.report.files["rewritten"].append(url)
    return True


def other_exports(er: _Erasure) -> None:
    from auralink.compliance import requests
    from auralink.compliance.scope import RequestRejected, parse_scope
    from auralink.compliance.subject import UnknownSubject, resolve_subject

    calls = sorted(er.affected_calls, key=str)
    users = set(er.affected_users)
    if calls:
        users.update(r[0] for r in er.run(
            "SELECT user_id FROM call_participants WHERE call_id = ANY(%(calls)s::uuid[]) AND user_id IS NOT NULL "
            "UNION SELECT initiated_by FROM calls WHERE id = ANY(%(calls)s::uuid[]) AND initiated_by IS NOT NULL",
            {"calls": calls}).fetchall())
    users -= {er.subject.user_id, er.pseudo_uuid}
    if not users:
        return
    cur = er.run("SELECT * FROM compliance_requests WHERE subject_user_id = ANY(%(users)s::uuid[]) "
                 "AND request_type = 'export' AND status = 'completed' AND result_location IS NOT NULL "
                 "ORDER BY received_at", {"users": sorted(users, key=str)})
    cols = [d.name for d in cur.description or ()]
    for req in [dict(zip(cols, r)) for r in cur.fetchall()]:
        reason = holds.hold_reason(er.conn, req["organization_id"], req["subject_user_id"], "compliance_export",
                                   str(req["id"]))
        if reason:
            er.report.files["held"].append({"file": req["result_location"], "reason": reason})
            continue
        if not storage.exists(_local(req["result_location"])):
            continue
        try:
            subject = resolve_subject(er.conn, req["subject_user_id"], None)
            scope = parse_scope(req["scope"], "export")
        except (UnknownSubject, RequestRejected):
            continue
        if subject.erased:
            continue
        fmt = scope.format or str(req["export_format"])
        org_filter = req["organization_id"] if scope.organization_only else None
        location, checksum = requests.export_subject(er.conn, req, subject, fmt, org_filter)
        er.run("UPDATE compliance_requests SET result_location = %(loc)s, result_checksum = %(sha)s, "
               "updated_at = now() WHERE id = %(id)s", {"loc": location, "sha": checksum, "id": req["id"]})
        er.report.files["regenerated"].append({"file": location, "why": "another person's export that showed the subject"})


def report_outputs(er: _Erasure) -> None:
    reports = sorted({k[0] for k in er.touched.get("custom_reports", [])}, key=str)
    if not reports:
        return
    rows = er.run("SELECT r.id, r.report_id, r.outputs, c.organization_id, c.definition FROM report_runs r "
                  "JOIN custom_reports c ON c.id = r.report_id WHERE r.report_id = ANY(%(ids)s::uuid[]) "
                  "AND r.outputs <> '{}'::jsonb ORDER BY r.id", {"ids": reports}).fetchall()
    for run_id, report_id, outputs, org, definition in rows:
        reason = holds.hold_reason(er.conn, org, None, "report", str(report_id))
        if reason:
            er.report.files["held"] += [{"file": u, "reason": reason} for u in outputs.values()]
            continue
        changed = {fmt: _rewrite_text_file(er, url) for fmt, url in outputs.items() if fmt in ("json", "csv")}
        if "pdf" in outputs and (changed.get("json") or "json" not in outputs):
            _report_pdf(er, run_id, outputs, definition)


def _report_pdf(er: _Erasure, run_id: int, outputs: dict[str, str], definition: Any) -> None:
    """The report's PDF again, from its (rewritten) JSON output: same rows, same chart, new title."""
    import datetime as dt

    from auralink.reports.definition import ReportDefinitionError, validate
    from auralink.reports.query import ReportData
    from auralink.reports.render import render_pdf

    pdf = outputs["pdf"]
    if "json" not in outputs:   # nothing to render it from: the PDF goes, the run says so
        er.files_to_delete.append(pdf)
        er.run("UPDATE report_runs SET outputs = outputs - 'pdf' WHERE id = %(id)s", {"id": run_id})
        return
    doc = json.loads(storage.read_bytes(_local(outputs["json"])))
    try:
        defn = validate(doc.get("definition") or definition)
    except ReportDefinitionError:
        er.files_to_delete.append(pdf)
        er.run("UPDATE report_runs SET outputs = outputs - 'pdf' WHERE id = %(id)s", {"id": run_id})
        return
    rng = doc.get("date_range") or {}
    columns = list(doc.get("columns") or [])
    data = ReportData(columns, list(defn.dimensions), [m.name for m in defn.metrics],
                      [tuple(r.get(c) for c in columns) for r in doc.get("rows") or []],
                      dt.date.fromisoformat(rng["first_day"]), dt.date.fromisoformat(rng["last_day"]),
                      rng.get("timezone", "UTC"))
    storage.write_bytes(_local(pdf), render_pdf(data, doc, defn.chart, defn.chart_title))
    er.report.files["rewritten"].append(pdf)


def compliance_reports(er: _Erasure) -> None:
    from auralink.compliance import report as compliance_report

    orgs = [str(o) for o in er.subject_orgs()]
    if not orgs:
        return
    rows = er.run("SELECT id, params ->> 'organization_id', stats FROM job_runs WHERE job_name = 'compliance_report' "
                  "AND status IN ('succeeded', 'partial') AND params ->> 'organization_id' = ANY(%(orgs)s::text[]) "
                  "ORDER BY id", {"orgs": orgs}).fetchall()
    for run_id, org, stats in rows:
        files = (stats or {}).get("files") or {}
        if not files:
            continue
        reason = holds.hold_reason(er.conn, uuid.UUID(org), None, "compliance_report", str(run_id))
        if reason:
            er.report.files["held"] += [{"file": f.get("location"), "reason": reason} for f in files.values()]
            continue
        json_file = (files.get("json") or {}).get("location")
        if json_file and _rewrite_text_file(er, json_file):
            files["json"]["sha256"] = storage.file_sha256(_local(json_file))[0]
            pdf = (files.get("pdf") or {}).get("location")
            if pdf:
                doc = json.loads(storage.read_bytes(_local(json_file)))
                files["pdf"]["sha256"] = storage.write_bytes(_local(pdf), compliance_report.render(doc, "pdf"))
                er.report.files["rewritten"].append(pdf)
        elif not json_file and (files.get("pdf") or {}).get("location"):
            pdf = files["pdf"]["location"]   # a PDF alone cannot be rewritten: it goes, the run says so
            er.files_to_delete.append(pdf)
            files.pop("pdf")
        else:
            continue
        er.run("UPDATE job_runs SET stats = jsonb_set(stats, '{files}', %(files)s::jsonb) WHERE id = %(id)s",
               {"files": json.dumps(files), "id": run_id})


def data_docs(er: _Erasure) -> None:
    from auralink.quality_gates import store

    keys = [k[0] for k in er.touched.get("data_quality_results", [])]
    if not keys:
        return
    runs = er.run("SELECT DISTINCT phase, table_name, ge_run_name FROM data_quality_results "
                  "WHERE id = ANY(%(ids)s::bigint[]) AND ge_run_name IS NOT NULL", {"ids": keys}).fetchall()
    root = store.gx_dir()
    for phase, table, run_name in runs:
        suite = [phase, table.rpartition(".")[2]]   # the suite <phase>.<gate>: GE's store keys it as folders
        for base in (root / "validations", root / "data_docs" / "validations"):
            folder = base.joinpath(*suite, run_name)
            if not folder.is_dir():
                continue
            for dirpath, _dirs, names in os.walk(folder):
                for name in names:
                    _rewrite_text_file(er, str(Path(dirpath) / name))
