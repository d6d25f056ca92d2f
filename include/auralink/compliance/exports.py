"""Writers for a data subject's export: JSON, CSV (a zip with a file per section) or PDF (readable,
with a table of contents). Each carries a manifest (sections, row counts, per-part sha256); the whole
file's sha256 goes on the request row.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import hashlib
import io
import json
import uuid
import zipfile
from typing import Any

FORMATS = ("json", "csv", "pdf")
RECORD_WIDTH = 116   # characters of a PDF record line: 7 pt Courier across A4 between 1.8 cm margins
EXTENSIONS = {"json": "json", "csv": "zip", "pdf": "pdf"}


def _plain(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, (uuid.UUID, decimal.Decimal)):
        return str(value)
    if isinstance(value, (bytes, memoryview)):
        return "<binary, not exported>"
    return value


def to_json_text(obj: Any) -> str:
    return json.dumps(obj, default=_plain, indent=2, sort_keys=True, ensure_ascii=False)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=_plain, sort_keys=True, ensure_ascii=False)
    return str(_plain(value))


def section_csv(rows: list[dict[str, Any]]) -> bytes:
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(v) for k, v in row.items()})
    return buf.getvalue().encode("utf-8")


def manifest(meta: dict[str, Any], data: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return {
        **meta,
        "sections": [
            {"name": name, "rows": len(rows),
             "sha256": hashlib.sha256(to_json_text(rows).encode()).hexdigest()}
            for name, rows in data.items()
        ],
        "total_rows": sum(len(rows) for rows in data.values()),
    }


def render(fmt: str, meta: dict[str, Any], data: dict[str, list[dict[str, Any]]]) -> bytes:
    if fmt not in FORMATS:
        raise ValueError(f"unsupported export format {fmt!r} (supported: {', '.join(FORMATS)})")
    man = manifest(meta, data)
    if fmt == "json":
        return to_json_text({"manifest": man, "data": data}).encode("utf-8")
    if fmt == "csv":
        return _render_zip(man, data)
    return render_pdf(f"Personal data export for {meta.get('subject_email', meta.get('subject'))}",
                      _pdf_intro(man), data, man)


def _render_zip(man: dict[str, Any], data: dict[str, list[dict[str, Any]]]) -> bytes:
    buf = io.BytesIO()
    files = {}
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, rows in data.items():
            payload = section_csv(rows)
            files[f"{name}.csv"] = {"rows": len(rows), "sha256": hashlib.sha256(payload).hexdigest()}
            zf.writestr(f"{name}.csv", payload)
        zf.writestr("manifest.json", to_json_text({**man, "files": files}))
    return buf.getvalue()


def _pdf_intro(man: dict[str, Any]) -> list[str]:
    return [
        f"Request: {man.get('request_id')}",
        f"Organization: {man.get('organization_id')}",
        f"Generated at: {man.get('generated_at')}",
        f"Legal basis: {man.get('legal_basis')}",
        f"Sections: {len(man['sections'])}, rows: {man['total_rows']}",
    ]


def render_pdf(title: str, intro: list[str], data: dict[str, list[dict[str, Any]]],
               man: dict[str, Any] | None = None) -> bytes:
    """A readable PDF: title, table of contents, one chapter per section, each record as field: value.

    One layout pass: the table of contents links to each chapter (and the chapters are bookmarks in the
    viewer's outline) instead of printing page numbers, which would need the whole document laid out twice.
    Records are preformatted monospace blocks wrapped at a fixed width: reportlab then measures a line
    once instead of every word (7x faster here, where it has no C accelerator).
    """
    from xml.sax.saxutils import escape

    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.lib.units import cm
    from reportlab.platypus import PageBreak, Paragraph, Preformatted, SimpleDocTemplate, Spacer

    styles = getSampleStyleSheet()
    h1 = ParagraphStyle("Chapter", parent=styles["Heading1"])
    small = ParagraphStyle("Record", parent=styles["BodyText"], fontSize=8, leading=10, spaceAfter=4)
    record = ParagraphStyle("RecordMono", parent=styles["Code"], fontSize=7, leading=8.5, spaceAfter=5,
                            leftIndent=0)
    toc_entry = ParagraphStyle("TOC1", fontSize=10, leading=13, leftIndent=10)

    class _Doc(SimpleDocTemplate):
        def afterFlowable(self, flowable):
            key = getattr(flowable, "_bookmark", None)
            if key:
                self.canv.bookmarkPage(key)
                self.canv.addOutlineEntry(flowable.getPlainText(), key, level=0)

    def chapter(key: str, text: str) -> Paragraph:
        para = Paragraph(f'<a name="{key}"/>{escape(text)}', h1)
        para._bookmark = key   # type: ignore[attr-defined]
        return para

    chapters = [(f"s{i}", name.replace("_", " ").capitalize() + f" ({len(rows)})", rows)
                for i, (name, rows) in enumerate(data.items())]
    if man is not None:
        chapters.append(("manifest", "Manifest", []))
    buf = io.BytesIO()
    doc = _Doc(buf, pagesize=A4, leftMargin=1.8 * cm, rightMargin=1.8 * cm, topMargin=1.5 * cm,
               bottomMargin=1.5 * cm, title=title, author="AuraLink compliance")
    story: list[Any] = [Paragraph(escape(title), styles["Title"])]
    story += [Paragraph(escape(line), styles["BodyText"]) for line in intro]
    story += [Spacer(1, 12), Paragraph("Table of contents", styles["Heading2"])]
    story += [Paragraph(f'<a href="#{key}" color="#1f4e9c">{escape(text)}</a>', toc_entry) for key, text, _ in chapters]
    story.append(PageBreak())
    for key, text, rows in chapters:
        story.append(chapter(key, text))
        if key == "manifest":
            assert man is not None
            for s in man["sections"]:
                story.append(Paragraph(escape(f"{s['name']}: {s['rows']} rows, sha256 {s['sha256']}"), small))
            continue
        if not rows:
            story.append(Paragraph("No data.", styles["BodyText"]))
        for row in rows:
            text = "\n".join(f"{k}: {_cell(v)}" for k, v in row.items())
            story.append(Preformatted(text, record, maxLineLength=RECORD_WIDTH, newLineChars="  "))
    doc.build(story)
    return buf.getvalue()
