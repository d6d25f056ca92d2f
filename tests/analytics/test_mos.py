"""The Python E-model (auralink.quality.mos) against the shared reference table and G.107 anchor points."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
from auralink.quality import mos

SEEDS = Path(__file__).resolve().parents[2] / "dbt_project" / "seeds"
REFERENCE = SEEDS / "mos_reference_points.csv"


def reference_points() -> list[dict]:
    with open(REFERENCE, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("point", reference_points(), ids=lambda p: p["case_name"])
def test_python_matches_reference_table(point):
    args = (float(point["rtt_ms"]), float(point["jitter_ms"]), float(point["packet_loss"]), point["codec"])
    assert mos.one_way_delay_ms(*args[:2], args[3]) == pytest.approx(float(point["expected_one_way_delay_ms"]), abs=1e-3)
    assert mos.r_factor(*args) == pytest.approx(float(point["expected_r_factor"]), abs=1e-3)
    value = mos.mos_from_network(*args)
    assert value == pytest.approx(float(point["expected_mos"]), abs=0.01)
    assert mos.quality_bucket(value) == point["expected_quality_bucket"]


def test_default_connection_rates_93_2():
    # G.107: with all parameters at their defaults R = 93.2 (no delay, no loss).
    assert mos.RO - mos.IS - mos.delay_impairment(0.0) == pytest.approx(93.2, abs=0.05)


def test_idd_is_zero_up_to_100ms_and_follows_g107_above():
    below = mos.delay_impairment(100.0)
    # Only echo terms up to mT: the pure-delay term starts above 100 ms.
    x = math.log10(200 / 100) / math.log10(2)  # = 1
    idd_200 = 25 * ((1 + x**6) ** (1 / 6) - 3 * (1 + (x / 3) ** 6) ** (1 / 6) + 2)
    assert idd_200 == pytest.approx(3.045, abs=0.01)
    assert mos.delay_impairment(200.0) > below + idd_200 * 0.9
    # Monotonic in delay.
    values = [mos.delay_impairment(t) for t in range(0, 801, 25)]
    assert values == sorted(values)


def test_ie_eff_formula():
    # G.729A: Ie 11, Bpl 19; 2 % random loss -> 11 + 84 * 2 / (2 + 19) = 19.0
    assert mos.effective_equipment_impairment(0.02, "g729") == pytest.approx(11 + 84 * 2 / 21)
    assert mos.effective_equipment_impairment(0.0, "g711") == 0.0
    assert mos.effective_equipment_impairment(1.0, "g711") == pytest.approx(95 * 100 / 125.1)


@pytest.mark.parametrize("r, expected", [(-5, 1.0), (0, 1.0), (50, 2.58), (70, 3.6), (80, 4.024),
                                         (93.2, 4.41), (100, 4.5), (120, 4.5)])
def test_mos_from_r_annex_b(r, expected):
    assert mos.mos_from_r(r) == pytest.approx(expected, abs=0.005)


@pytest.mark.parametrize("value, bucket", [(4.5, "excellent"), (4.21, "excellent"), (4.2, "good"), (3.7, "good"),
                                           (3.69, "fair"), (3.1, "fair"), (3.09, "poor"), (1.0, "poor")])
def test_quality_bucket_boundaries(value, bucket):
    assert mos.quality_bucket(value) == bucket


def test_mos_degrades_with_loss_delay_and_jitter():
    base = mos.mos_from_network(50, 5, 0.0, "opus")
    assert mos.mos_from_network(50, 5, 0.02, "opus") < base
    assert mos.mos_from_network(400, 5, 0.0, "opus") < base
    assert mos.mos_from_network(50, 60, 0.0, "opus") < base
    assert mos.mos_from_network(50, 5, 0.0, "g729") < base


def test_codec_aliases_and_unknown_codec():
    assert mos.codec_impairment(" PCMA ").codec == "g711"
    assert mos.codec_impairment("G729a").codec == "g729"
    with pytest.raises(mos.UnknownCodec, match="speex"):
        mos.mos_from_network(50, 5, 0.0, "speex")


@pytest.mark.parametrize("args", [(-1, 0, 0, "opus"), (0, -1, 0, "opus"), (0, 0, 1.5, "opus"),
                                  (0, 0, float("nan"), "opus")])
def test_bad_measurements_raise_clear_errors(args):
    with pytest.raises(ValueError):
        mos.mos_from_network(*args)


def test_codec_seed_equals_python_table():
    # dbt reads the codec table as a seed: it must be the same table as mos.CODECS + aliases.
    with open(SEEDS / "codec_impairment.csv", newline="") as fh:
        seed = {row["codec_name"]: row for row in csv.DictReader(fh)}
    expected_names = set(mos.CODECS) | set(mos.CODEC_ALIASES)
    assert set(seed) == expected_names
    for name, row in seed.items():
        codec = mos.codec_impairment(name)
        assert row["codec"] == codec.codec
        assert float(row["ie"]) == codec.ie and float(row["bpl"]) == codec.bpl
        assert float(row["coding_delay_ms"]) == codec.coding_delay_ms
