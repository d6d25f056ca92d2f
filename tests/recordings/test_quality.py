"""Call-quality reports: the shared MOS, sustained-breach windows, upserts, re-analysis on new samples."""

from __future__ import annotations

import datetime as dt

import pytest
from auralink.jobs import run_job
from auralink.quality.mos import mos_from_network, quality_bucket
from auralink.recordings.quality import Sample, analyze, sustained

from tests.recordings.conftest import T0, new_call, new_org


@pytest.mark.parametrize("values, expected", [
    ([1, 1, 1, 0, 0], True),
    ([1, 0, 1, 0, 1], True),
    ([1, 1, 0, 0, 0, 0, 1], False),       # 2 in every window of five
    ([0, 0, 1, 0, 0, 1, 1, 0, 1], True),  # the window 5..9 holds 3... via 1,1,0,1
    ([1, 1], False),
    ([1, 1, 1], True),
    ([], False),
])
def test_three_of_five_window(values, expected):
    assert sustained([bool(v) for v in values]) is expected


def _samples(rows, codec="opus", pid=1):
    return [Sample(pid, rtt, jitter, loss, codec) for rtt, jitter, loss in rows]


def test_analyze_uses_the_shared_mos_and_flags_sustained_breaches():
    good = _samples([(80, 5, 0.0)] * 5)
    report = analyze(good)
    assert report.avg_mos == pytest.approx(mos_from_network(80, 5, 0.0, "opus"))
    assert report.quality_bucket == quality_bucket(report.avg_mos)
    assert report.flags == []

    spiky = _samples([(450, 5, 0), (80, 40, 0), (450, 5, 0), (80, 40, 0), (450, 5, 0), (80, 5, 0)])
    report = analyze(spiky)
    assert report.sustained_high_rtt and not report.sustained_high_jitter
    assert "sustained_high_rtt" in report.flags

    lossy = _samples([(80, 5, 0.06), (80, 5, 0.04), (80, 5, 0.0)])
    report = analyze(lossy)
    assert report.high_packet_loss and report.avg_packet_loss == pytest.approx(0.0333, abs=1e-4)
    assert not analyze(_samples([(80, 5, 0.03)] * 3)).high_packet_loss  # exactly 3 % is not over

    # Two participants with two bad samples each: not sustained for either (windows are per stream).
    split = _samples([(500, 5, 0)] * 2 + [(80, 5, 0)] * 3, pid=1) + _samples([(500, 5, 0)] * 2 + [(80, 5, 0)] * 3, pid=2)
    assert not analyze(split).sustained_high_rtt

    unknown = analyze(_samples([(80, 5, 0)] * 3, codec="vp9"))
    assert unknown.avg_mos is None and "unknown_codec" in unknown.flags


def test_job_upserts_one_report_per_call_and_reanalyzes_new_samples(db):
    org = new_org(db)
    good = new_call(db, org, samples=[(80, 5, 0.001)] * 6, participants=2)
    bad = new_call(db, org, samples=[(600, 60, 0.08)] * 5)
    new_call(db, org)  # no samples: no report

    result = run_job("analyze_call_quality", {"batch_size": "1"})
    assert result["status"] == "succeeded" and result["calls_analyzed"] == 2 and result["calls_flagged"] == 1
    reports = {str(r[0]): r[1:] for r in db.execute(
        "SELECT call_id, samples_count, participants_count, quality_bucket, flags, avg_mos FROM call_quality_reports")}
    assert set(reports) == {good, bad}
    assert reports[good][:2] == (12, 2) and reports[good][3] == []
    assert reports[bad][2] == "poor"
    assert set(reports[bad][3]) == {"sustained_high_rtt", "sustained_high_jitter", "sustained_low_mos", "high_packet_loss"}

    assert run_job("analyze_call_quality")["calls_analyzed"] == 0  # nothing changed: nothing redone

    pid = db.execute("SELECT participant_id FROM call_quality_samples WHERE call_id = %s LIMIT 1", (good,)).fetchone()[0]
    db.execute("INSERT INTO call_quality_samples (call_id, participant_id, sampled_at, rtt_ms, jitter_ms, packet_loss, "
               "codec) VALUES (%s, %s, %s, 90, 5, 0, 'opus')", (good, pid, T0 + dt.timedelta(hours=1)))
    assert run_job("analyze_call_quality")["calls_analyzed"] == 1
    assert db.execute("SELECT count(*), max(samples_count) FROM call_quality_reports WHERE call_id = %s",
                      (good,)).fetchone() == (1, 13)
