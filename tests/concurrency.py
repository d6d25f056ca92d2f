"""Run the same work from several threads at once, as two job runs or workers would."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def run_concurrently(work: Callable[[], Any], times: int = 3) -> tuple[list[Any], list[BaseException]]:
    """Start ``times`` threads on ``work`` together; return (results, errors) once all have finished."""
    results: list[Any] = []
    errors: list[BaseException] = []
    start = threading.Barrier(times)

    def run() -> None:
        start.wait()   # all at once, not one after another
        try:
            results.append(work())
        except BaseException as exc:  # noqa: BLE001 - collected for the test to assert on
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(times)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors
