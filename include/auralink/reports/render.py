"""Report files: CSV, JSON, and PDF with a matplotlib chart laid out by reportlab."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from typing import Any

from auralink.reports.query import ReportData

PDF_TABLE_ROWS = 40


def _cell(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def render_csv(data: ReportData) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(data.columns)
    for row in data.rows:
        writer.writerow(["" if v is None else _cell(v) for v in row])
    return buf.getvalue().encode()


def render_json(data: ReportData, meta: dict[str, Any]) -> bytes:
    doc = {**meta, "date_range": {"first_day": data.first_day.isoformat(), "last_day": data.last_day.isoformat(),
                                  "timezone": data.timezone},
           "columns": data.columns, "rows": [dict(zip(data.columns, map(_cell, r))) for r in data.rows]}
    return json.dumps(doc, indent=2, default=str).encode()


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display on workers
    import matplotlib.pyplot as plt

    return plt


def preload() -> None:
    """Import the chart and PDF libraries now (before worker processes are forked, so they share them)."""
    import reportlab.platypus  # noqa: F401

    _pyplot()


def render_chart_jpeg(data: ReportData, chart: str, title: str) -> bytes | None:
    """The chart as JPEG bytes, or None when there is nothing to draw. JPEG, as the PDF embeds it as it is:
    a PNG is compressed here, then decoded and compressed again by reportlab, most of a report's time."""
    if chart == "none" or not data.rows:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4), dpi=150)
    try:
        if not data.dimensions:
            labels = data.metrics
            values = [float(v or 0) for v in data.rows[0]]
            if chart == "pie":
                ax.pie(values, labels=labels, autopct="%1.0f%%")
            else:
                ax.bar(labels, values, color="#3b6fb6")
        else:
            x = [str(_cell(r[0])) for r in data.rows]
            series = _series(data)
            if chart == "pie":
                name, ys = next(iter(series.items()))
                ax.pie([max(v or 0, 0) for v in ys], labels=x, autopct="%1.0f%%")
                ax.set_title(name)
            else:
                width = 0.8 / max(len(series), 1)
                for k, (name, ys) in enumerate(series.items()):
                    xs = list(range(len(x)))
                    vals = [float(v) if v is not None else float("nan") for v in ys]
                    if chart == "line":
                        ax.plot(xs, vals, marker="o", label=name)
                    else:
                        ax.bar([p + k * width - 0.4 + width / 2 for p in xs], vals, width=width, label=name)
                step = max(1, len(x) // 12)
                ax.set_xticks(list(range(0, len(x), step)))
                ax.set_xticklabels(x[::step], rotation=30, ha="right", fontsize=8)
                ax.set_xlabel(data.dimensions[0])
                ax.grid(axis="y", alpha=0.3)
                ax.legend(fontsize=8)
        fig.suptitle(title, fontsize=11)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="jpeg", pil_kwargs={"quality": 90})
        return buf.getvalue()
    finally:
        plt.close(fig)


def _series(data: ReportData) -> dict[str, list[Any]]:
    """One series per metric; only the first dimension is the x axis (rows are ordered by it)."""
    n_dims = len(data.dimensions)
    if n_dims == 1:
        return {m: [r[n_dims + i] for r in data.rows] for i, m in enumerate(data.metrics)}
    # With more dimensions, the first metric is split by the second dimension; x positions are rows.
    out: dict[str, list[Any]] = {}
    xs = [r[0] for r in data.rows]
    for j, r in enumerate(data.rows):
        key = f"{data.metrics[0]} {r[1]}"
        out.setdefault(key, [None] * len(xs))[j] = r[n_dims]
    return out


def render_pdf(data: ReportData, meta: dict[str, Any], chart: str, chart_title: str | None = None) -> bytes:
    from xml.sax.saxutils import escape

    from reportlab import rl_config
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import cm
    from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    # Binary streams, as every PDF writer makes them: ASCII85 (reportlab's default) has only a pure-Python
    # encoder here, slower than drawing the chart.
    rl_config.useA85 = 0
    styles = getSampleStyleSheet()
    title = str(meta.get("title") or meta.get("report") or "Report")
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, title=title, author="AuraLink", leftMargin=1.8 * cm,
                            rightMargin=1.8 * cm, topMargin=1.5 * cm, bottomMargin=1.5 * cm)
    story: list[Any] = [
        Paragraph(escape(title), styles["Title"]),
        Paragraph(escape(f"{meta.get('organization', '')} · {data.first_day} to {data.last_day} ({data.timezone}) · "
                         f"scheduled for {meta.get('scheduled_for', '')}"), styles["Normal"]),
        Spacer(1, 0.4 * cm),
    ]
    jpeg = render_chart_jpeg(data, chart, chart_title or title)
    if jpeg:
        width = doc.width
        story += [Image(io.BytesIO(jpeg), width=width, height=width / 2), Spacer(1, 0.4 * cm)]
    if data.rows:
        shown = data.rows[:PDF_TABLE_ROWS]
        table = Table([data.columns] + [[("" if v is None else str(_cell(v))) for v in r] for r in shown],
                      repeatRows=1, hAlign="LEFT")
        table.setStyle(TableStyle([
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#3b6fb6")),
            ("TEXTCOLOR", (0, 0), (-1, 0), colors.white),
            ("FONTSIZE", (0, 0), (-1, -1), 8),
            ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
            ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#eef2f8")]),
        ]))
        story.append(table)
        if len(data.rows) > len(shown):
            story.append(Paragraph(f"... {len(data.rows) - len(shown)} more rows in the CSV/JSON output.",
                                   styles["Italic"]))
    else:
        story.append(Paragraph("No data in this date range.", styles["Italic"]))
    doc.build(story)
    return buf.getvalue()
