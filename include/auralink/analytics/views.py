"""What the analytics marts hold: row counts for the DAG's Asset task and the pipeline summary."""

from __future__ import annotations

from auralink.analytics.dbt_runner import ANALYTICS_SCHEMA, ANALYTICS_VIEWS
from auralink.db.connection import connect, scalar


class ViewNotBuilt(RuntimeError):
    pass


def view_row_counts(url: str | None = None, *, require_rows: bool = False) -> dict[str, int]:
    """Rows in each analytics view; raises ViewNotBuilt when one is missing (or empty with require_rows)."""
    counts: dict[str, int] = {}
    with connect(url, autocommit=True) as conn:
        for name in ANALYTICS_VIEWS:
            qualified = f"{ANALYTICS_SCHEMA}.{name}"
            if scalar(conn, "SELECT to_regclass(%s)", (qualified,)) is None:
                raise ViewNotBuilt(f"{qualified} does not exist: the dbt build did not create it")
            counts[name] = scalar(conn, f"SELECT count(*) FROM {qualified}")
    empty = sorted(n for n, c in counts.items() if c == 0)
    if require_rows and empty:
        raise ViewNotBuilt(f"analytics views without rows: {', '.join(empty)}")
    return counts
