"""Where the Great Expectations results and the Data Docs site live, and the lock around writing them.

Light on purpose (no Great Expectations import): the CLI and the DAG file use it.

Layout of the directory (``AURALINK_GX_DIR``, default ``<AURALINK_HOME>/great_expectations``)::

    expectations/<phase>/<table>.json          the suites as last run (code in suites.py is the source)
    validations/<phase>/<table>/<run>/...json  one validation result per gate per run
    data_docs/index.html                       the Data Docs site (open it in a browser)
    .lock                                      held while a run writes results and rebuilds the site
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

from auralink import config

log = logging.getLogger(__name__)

RESULT_DIRS = ("validations", "data_docs/validations")


def gx_dir() -> Path:
    """AURALINK_GX_DIR, else ``great_expectations`` under the project's home (AURALINK_HOME)."""
    configured = config.env("AURALINK_GX_DIR")
    path = Path(configured) if configured else config.data_dir("great_expectations")
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve()


def data_docs_index(root: Path | None = None) -> Path:
    """The Data Docs entry page (it exists once a gate has run)."""
    return (root or gx_dir()) / "data_docs" / "index.html"


@contextlib.contextmanager
def exclusive(root: Path) -> Iterator[None]:
    """Hold ``<root>/.lock`` (flock): one run at a time writes results and rebuilds the shared index.

    Two runs at once (a manual ``auralink jobs run`` during the nightly DAG) would otherwise interleave
    writes of index.html and read each other's half-written result files. flock is released by the
    kernel when the process dies, so a killed task never leaves the directory locked.
    """
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("another quality-gate run is writing %s: waiting for it", root)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def prune(root: Path, keep_days: float) -> int:
    """Delete validation results and their Data Docs pages older than ``keep_days`` (call under the lock).

    Rebuilding the Data Docs index reads every stored result, so without this its cost would grow with
    every night of history. Returns the number of files removed.
    """
    if keep_days <= 0:
        return 0
    cutoff = time.time() - keep_days * 86400
    removed = 0
    for sub in RESULT_DIRS:
        base = root / sub
        if not base.is_dir():
            continue
        for dirpath, _dirnames, filenames in os.walk(base, topdown=False):
            for name in filenames:
                path = Path(dirpath) / name
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            if dirpath != str(base) and not os.listdir(dirpath):
                os.rmdir(dirpath)
    if removed:
        log.info("removed %d quality-gate result files older than %g days from %s", removed, keep_days, root)
    return removed
