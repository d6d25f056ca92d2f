"""Fan-out plans for Argo ``withParam``: how many parallel steps the pending work is worth.

Transcription has its own (``auralink recordings pending``: each batch claims its recordings). Summaries
are claimed per transcript while a job runs, so parallel summarize steps are workers draining one queue:
the plan is one item per worker, as many as the pending transcripts fill, never more than asked.
"""

from __future__ import annotations

import math

import psycopg


def pending_summaries(conn: psycopg.Connection) -> int:
    """Transcripts the summarize_transcripts job would pick up now (its own candidate query, unlimited)."""
    from auralink.recordings.summarize import count_pending

    return count_pending(conn)


def summary_workers(conn: psycopg.Connection, batch_size: int, max_workers: int) -> list[dict[str, int]]:
    """``[{"worker": i, "batch_size": n}, ...]``: one per ``batch_size`` pending transcripts, at most ``max_workers``."""
    if batch_size < 1 or max_workers < 1:
        raise ValueError("batch_size and max_workers must be at least 1")
    n = min(math.ceil(pending_summaries(conn) / batch_size), max_workers)
    return [{"worker": i, "batch_size": batch_size} for i in range(n)]
