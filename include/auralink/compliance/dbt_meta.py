"""The catalog's classes of the dbt models and seeds, as ``meta: {privacy: <class>}`` on each column of the
dbt YAML files, so dbt docs show them. The catalog (``catalog.yaml``) is the source: :func:`sync` writes the
meta lines from it, touching nothing else in the files (other keys, their order, comments and style stay as
they are: lines are inserted, never rewritten), and :func:`check` lists every disagreement (the test).

    .venv/bin/python -m auralink.compliance.dbt_meta          # check
    .venv/bin/python -m auralink.compliance.dbt_meta --write  # write the missing meta lines
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from auralink.compliance import catalog as catalog_mod

YAML_GLOBS = ("models/**/*.yml", "seeds/*.yml")
SECTIONS = ("models", "seeds")


def _project() -> Path:
    from auralink.analytics.dbt_runner import project_dir

    return project_dir()


def yaml_files(project: Path | None = None) -> list[Path]:
    project = project or _project()
    return sorted({p for g in YAML_GLOBS for p in project.glob(g)})


def declared(project: Path | None = None) -> dict[str, dict[str, Any]]:
    """model or seed -> {column: meta.privacy (None when absent)} from the dbt YAML files."""
    import yaml  # type: ignore[import-untyped]

    out: dict[str, dict[str, Any]] = {}
    for path in yaml_files(project):
        doc = yaml.safe_load(path.read_text()) or {}
        for section in SECTIONS:
            for node in doc.get(section) or ():
                cols = out.setdefault(node["name"], {})
                for col in node.get("columns") or ():
                    meta = col.get("meta") or (col.get("config") or {}).get("meta") or {}
                    cols[col["name"]] = meta.get("privacy")
    return out


def check(project: Path | None = None, cat: catalog_mod.Catalog | None = None) -> list[str]:
    """Every way the dbt YAML meta and the catalog's models disagree (empty: they agree)."""
    cat = cat or catalog_mod.load()
    have = declared(project)
    problems = []
    for name, model in cat.models.items():
        cols = have.get(name)
        if cols is None:
            problems.append(f"{name}: no entry in the dbt YAML files")
            continue
        for col in model.columns.values():
            if cols.get(col.name) != col.cls:
                problems.append(f"{name}.{col.name}: meta.privacy is {cols.get(col.name)!r}, the catalog says {col.cls!r}")
        problems += [f"{name}.{c}: in the dbt YAML but not in the catalog" for c in cols if c not in model.columns]
    problems += [f"{name}: in the dbt YAML but not in the catalog's models" for name in have if name not in cat.models]
    return problems


def sync(project: Path | None = None, cat: catalog_mod.Catalog | None = None) -> list[Path]:
    """Insert the missing ``meta: {privacy: ...}`` lines (and column entries) from the catalog; returns the
    files changed. A column whose meta says something else is left for a person to decide (check names it)."""
    cat = cat or catalog_mod.load()
    changed = []
    for path in yaml_files(project):
        text = path.read_text()
        new = _insert(text, cat)
        if new != text:
            path.write_text(new)
            changed.append(path)
    return changed


def _insert(text: str, cat: catalog_mod.Catalog) -> str:
    import yaml  # type: ignore[import-untyped]

    lines = text.splitlines(keepends=True)
    root = yaml.compose(text)
    if root is None:
        return text
    inserts: list[tuple[int, list[str]]] = []   # (line index to insert before, lines)
    for key, value in root.value:
        if key.value not in SECTIONS:
            continue
        for node in value.value:
            fields = {k.value: v for k, v in node.value}
            model = cat.models.get(fields["name"].value)
            if model is None:
                continue
            indent = " " * node.start_mark.column
            columns = fields.get("columns")
            present: dict[str, Any] = {}
            if columns is not None:
                for col in columns.value:
                    cf = {k.value: v for k, v in col.value}
                    present[cf["name"].value] = (col, cf)
            for name, (col, cf) in present.items():
                spec = model.columns.get(name)
                if spec is None or "meta" in cf or "config" in cf:
                    continue
                line = cf["name"].start_mark.line
                inserts.append((line + 1, [f"{' ' * col.start_mark.column}meta: {{privacy: {spec.cls}}}\n"]))
            missing = [c for c in model.columns.values() if c.name not in present]
            if not missing:
                continue
            if columns is not None:
                item_indent = " " * columns.value[0].start_mark.column if columns.value else indent + "    "
                at = _end_line(lines, columns.end_mark)
                inserts.append((at, [f"{item_indent[:-2]}- {{name: {c.name}, meta: {{privacy: {c.cls}}}}}\n"
                                     for c in missing]))
            else:
                at = _end_line(lines, node.end_mark)
                inserts.append((at, [f"{indent}columns:\n"] + [f"{indent}  - {{name: {c.name}, meta: {{privacy: {c.cls}}}}}\n"
                                                              for c in missing]))
    for at, new_lines in sorted(inserts, key=lambda x: x[0], reverse=True):
        lines[at:at] = new_lines
    return "".join(lines)


def _end_line(lines: list[str], mark: Any) -> int:
    """The line a block ends before: a block node's end mark sits at the next token (or the end of the
    file), after any blank or comment lines that belong to what follows; step back over those."""
    at = min(mark.line, len(lines))
    if at < len(lines) and lines[at][:mark.column].strip():
        at += 1
    while at > 0 and (not lines[at - 1].strip() or lines[at - 1].lstrip().startswith("#")):
        at -= 1
    return at


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--write" in argv:
        for path in sync():
            print(f"wrote {path}")
    problems = check()
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
