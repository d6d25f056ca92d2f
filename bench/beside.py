"""What runs beside a benchmarked night: the product writing and a long reader (shared by the benchmarks).

The writer inserts an audit event and a usage record 5 times a second and times each pair (the product's
insert latency); the reader runs ``reader_seconds`` queries on audit_logs back to back with a 0.5 s pause,
holding the table's ACCESS SHARE lock as a long analytics query does.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from typing import Self

import psycopg


class Beside:
    """A product writer (audit events and usage records, 5/s) and a reader holding audit_logs in 10 s queries."""

    def __init__(self, url: str, reader_seconds: float) -> None:
        self.url, self.reader_seconds, self.stop = url, reader_seconds, threading.Event()
        self.latencies: list[float] = []
        self.reads = 0
        self.threads = [threading.Thread(target=self._write, daemon=True)]
        if reader_seconds > 0:
            self.threads.append(threading.Thread(target=self._read, daemon=True))

    def _write(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as c:
            org = c.execute("SELECT id FROM organizations LIMIT 1").fetchone()[0]
            n = 0
            while not self.stop.is_set():
                due = time.perf_counter()
                c.execute("INSERT INTO audit_logs (organization_id, action, occurred_at) VALUES (%s, 'auth.login', now())",
                          (org,))
                c.execute("INSERT INTO usage_records (organization_id, metric, quantity, recorded_at, idempotency_key)"
                          " VALUES (%s, 'call_minutes', 1, now(), %s)", (org, f"bench-{os.getpid()}-{n}"))
                self.latencies.append(time.perf_counter() - due)
                n += 1
                self.stop.wait(0.2)

    def _read(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as c:
            while not self.stop.is_set():
                c.execute("SELECT count(*), pg_sleep(%s) FROM (SELECT 1 FROM audit_logs LIMIT 1) t",
                          (self.reader_seconds,))
                self.reads += 1
                self.stop.wait(0.5)

    def __enter__(self) -> Self:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=self.reader_seconds + 30)

    def summary(self) -> str:
        lat = sorted(self.latencies)
        if not lat:
            return "no product inserts"
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        return (f"product inserts beside it: {len(lat)} (audit + usage), worst {lat[-1] * 1000:.0f} ms, "
                f"p99 {p99 * 1000:.0f} ms, median {statistics.median(lat) * 1000:.1f} ms; "
                f"reader queries {self.reads}")
