"""What orchestrators need to fan transcription out: the Airflow pool and the batch plan.

Airflow maps one task per batch (the nightly and call_recording_processing DAGs), Argo one pod per batch
(``auralink recordings pending``); each batch's job claims its own recordings with SKIP LOCKED.
"""

from __future__ import annotations

import logging

log = logging.getLogger("auralink.recordings")

TRANSCRIPTION_POOL = "recording_transcription"
TRANSCRIPTION_POOL_SLOTS = 2


def plan_transcription_batches(batch_size: int | str = 50, max_batches: int | str = 20,
                               url: str | None = None) -> list[dict[str, int]]:
    """Batch descriptors to map the transcription task over (one per ``batch_size`` pending recordings)."""
    from auralink.db.connection import connect
    from auralink.recordings.transcribe import pending_batches

    with connect(url, autocommit=True) as conn:
        batches = pending_batches(conn, int(batch_size), int(max_batches))
    log.info("planned %d transcription batch(es) of up to %s recordings", len(batches), batch_size)
    return batches
