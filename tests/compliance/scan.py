"""Look for a person everywhere, the slow way erasure must never need: every column of every table, view and
materialized view (public and the dbt schemas), and every file under the given folders (zip members, gzip
and zstd text, PDF text extracted)."""

from __future__ import annotations

import gzip
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import psycopg

SCHEMAS = ("public", "analytics", "analytics_staging", "analytics_intermediate", "analytics_reference")


@dataclass(frozen=True)
class Hit:
    relation: str
    column: str
    rows: int


def relations(conn: psycopg.Connection) -> dict[str, list[str]]:
    rows = conn.execute(
        "SELECT n.nspname || '.' || c.relname, a.attname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
        "WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'p', 'v', 'm') AND NOT c.relispartition "
        "ORDER BY 1, a.attnum", (list(SCHEMAS),)).fetchall()
    out: dict[str, list[str]] = {}
    for rel, col in rows:
        out.setdefault(rel, []).append(col)
    return out


def scan_database(conn: psycopg.Connection, needles: list[str],
                  exclude: dict[str, str] | None = None) -> list[Hit]:
    """Every (relation, column) whose text holds a needle (case-insensitive), in rows not excluded by
    ``exclude[relation]`` (SQL on alias t: held rows, the tombstone)."""
    patterns = [f"%{n}%" for n in needles]
    hits = []
    for rel, cols in relations(conn).items():
        schema, _, name = rel.partition(".")
        extra = (exclude or {}).get(rel)
        where = f" WHERE NOT ({extra})" if extra else ""
        counts = ", ".join(f'count(*) FILTER (WHERE t."{c}"::text ILIKE ANY(%(p)s))' for c in cols)
        row = conn.execute(f'SELECT {counts} FROM "{schema}"."{name}" t{where}', {"p": patterns}).fetchone()
        hits += [Hit(rel, c, n) for c, n in zip(cols, row) if n]
    return hits


def file_text(path: Path) -> str:
    data = path.read_bytes()
    name = path.name
    if name.endswith(".gz"):
        data = gzip.decompress(data)
    elif name.endswith(".zst"):
        import pyarrow as pa

        data = pa.input_stream(pa.py_buffer(data), compression="zstd").read()
    if name.endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return "\n".join(zf.read(m).decode("utf-8", "replace") for m in zf.namelist())
    if name.endswith(".pdf"):
        from pypdf import PdfReader

        return "\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(data)).pages)
    return data.decode("utf-8", "replace")


def scan_files(roots: list[Path], needles: list[str], exclude: set[str] = frozenset()) -> dict[str, list[str]]:
    """file -> the needles it holds, for every file under the roots except ``exclude`` (paths)."""
    found = {}
    for root in roots:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            if str(path) in exclude or path.name.endswith(".lock"):
                continue
            text = file_text(path).lower()
            held = [n for n in needles if n.lower() in text]
            if held:
                found[str(path)] = held
    return found
