"""Call-quality MOS by the ITU-T G.107 E-model (narrowband, 06/2015 edition), the one Python implementation.

The dbt macro ``dbt_project/macros/g107_mos.sql`` implements the same formula in SQL; both are checked
against the shared reference table ``tests/analytics/mos_reference_points.csv`` (they must agree to 0.01 MOS),
and the codec table below must equal the dbt seed ``dbt_project/seeds/codec_impairment.csv``.

The E-model::

    R = Ro - Is - Id - Ie_eff + A

* ``Ro - Is``: with every G.107 default (SLR 8, RLR 2, STMR 15, No -61.18 dBm0p, ...) Ro = 94.77 and
  Is = 1.41, so an undisturbed G.711 connection rates R = 93.2, the value G.107 quotes.
* ``Id = Idte + Idle + Idd`` (delay impairments), with default echo parameters TELR = 65 dB, WEPL = 110 dB,
  mean one-way delay T = Ta and round-trip delay of the listener echo Tr = 2 * Ta.
  Idd (pure delay) is 0 up to mT = 100 ms, above it::

      X   = log10(Ta / 100) / log10(2)
      Idd = 25 * ((1 + X**6) ** (1/6) - 3 * (1 + (X/3)**6) ** (1/6) + 2)

* ``Ie_eff = Ie + (95 - Ie) * Ppl / (Ppl / BurstR + Bpl)`` with Ppl the packet loss in percent and
  BurstR = 1 (random loss); Ie and Bpl per codec from G.113 Appendix I.
* ``A = 0`` (advantage factor of conventional wirebound / VoIP users).

R -> MOS (G.107 Annex B): 1 below R = 0, 4.5 above R = 100, otherwise
``1 + 0.035 R + R (R - 60) (100 - R) * 7e-6``.

One-way delay Ta (mouth to ear) from what clients report (RTT, interarrival jitter, codec)::

    Ta = rtt_ms / 2                                  # network, assuming a symmetric path
       + max(JITTER_BUFFER_MIN_MS, JITTER_BUFFER_FACTOR * jitter_ms)   # adaptive jitter buffer
       + codec.coding_delay_ms                       # packetisation (frame x frames/packet) + look-ahead

An adaptive jitter buffer holds about two jitter spans of audio (so late packets are rarely discarded) and
never less than 20 ms; losses caused by the buffer are already in the reported packet loss (clients report
loss after the buffer), so they are not added again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# G.107 default values (Table 3) folded into the constant terms.
RO = 94.77          # basic signal-to-noise ratio: 15 - 1.5 * (SLR + No) = 15 - 1.5 * (8 - 61.18)
IS = 1.41           # simultaneous impairments at default values
NO = -61.18         # total noise at the receiving side, dBm0p
RLR = 2.0           # receive loudness rating, dB
TELR = 65.0         # talker echo loudness rating, dB
WEPL = 110.0        # weighted echo path loss, dB
MT_MS = 100.0       # minimum perceivable delay mT, ms
ADVANTAGE = 0.0     # advantage factor A
BURST_RATIO = 1.0   # BurstR: 1 = random loss

JITTER_BUFFER_MIN_MS = 20.0
JITTER_BUFFER_FACTOR = 2.0

# Quality buckets (lower bounds): excellent > 4.2, good 3.7-4.2, fair 3.1-3.7, poor below 3.1.
EXCELLENT_ABOVE = 4.2
GOOD_FROM = 3.7
FAIR_FROM = 3.1


@dataclass(frozen=True)
class CodecImpairment:
    codec: str
    ie: float               # equipment impairment factor
    bpl: float              # packet-loss robustness factor (random loss)
    coding_delay_ms: float  # packetisation + algorithmic look-ahead
    source: str


# G.113 Appendix I (Tables I.1 and I.3) provisional planning values. G.113 Appendix I is narrowband only:
# Opus and G.722 (wideband, rated on the extended scale of G.107.1) have no entry there, so on this
# narrowband scale they are rated like G.711 with packet-loss concealment (no coding distortion, the
# PLC robustness of G.711 Appendix I): an explicit planning assumption, marked as such in `source`.
CODECS: dict[str, CodecImpairment] = {c.codec: c for c in (
    CodecImpairment("g711", 0.0, 25.1, 20.0, "G.113 App. I: G.711 with PLC (G.711 App. I), 20 ms packets"),
    CodecImpairment("g711-noplc", 0.0, 4.3, 20.0, "G.113 App. I: G.711 without PLC, 20 ms packets"),
    CodecImpairment("g729", 11.0, 19.0, 25.0, "G.113 App. I: G.729A + VAD; 20 ms packets + 5 ms look-ahead"),
    CodecImpairment("g723", 15.0, 16.1, 37.5, "G.113 App. I: G.723.1 6.3 kbit/s + VAD; 30 ms + 7.5 ms look-ahead"),
    CodecImpairment("gsm-efr", 5.0, 10.0, 20.0, "G.113 App. I: GSM-EFR; 20 ms frames"),
    CodecImpairment("opus", 0.0, 25.1, 26.5, "assumption: rated as G.711+PLC; 20 ms frames + 6.5 ms look-ahead"),
    CodecImpairment("g722", 0.0, 25.1, 21.5, "assumption: rated as G.711+PLC; 20 ms packets + 1.5 ms QMF delay"),
)}

# Names clients and SDP use for the same codecs.
CODEC_ALIASES: dict[str, str] = {
    "pcmu": "g711", "pcma": "g711", "g.711": "g711", "g711u": "g711", "g711a": "g711",
    "g711-ulaw": "g711", "g711-alaw": "g711",
    "g.729": "g729", "g729a": "g729", "g729ab": "g729", "g.729a": "g729",
    "g.723": "g723", "g723.1": "g723", "g.723.1": "g723",
    "g.722": "g722", "efr": "gsm-efr", "gsm_efr": "gsm-efr", "opus/48000": "opus",
}


class UnknownCodec(ValueError):
    pass


def normalize_codec(codec: str) -> str:
    name = (codec or "").strip().lower()
    name = CODEC_ALIASES.get(name, name)
    if name not in CODECS:
        raise UnknownCodec(f"no G.113 impairment values for codec {codec!r} (known: {', '.join(sorted(CODECS))})")
    return name


def codec_impairment(codec: str) -> CodecImpairment:
    return CODECS[normalize_codec(codec)]


def _check(name: str, value: float, upper: float | None = None) -> float:
    value = float(value)
    if math.isnan(value) or value < 0 or (upper is not None and value > upper):
        bound = f"0..{upper:g}" if upper is not None else ">= 0"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return value


def one_way_delay_ms(rtt_ms: float, jitter_ms: float, codec: str) -> float:
    """Mean mouth-to-ear delay Ta (see the module docstring for the derivation)."""
    rtt_ms = _check("rtt_ms", rtt_ms)
    jitter_ms = _check("jitter_ms", jitter_ms)
    jitter_buffer = max(JITTER_BUFFER_MIN_MS, JITTER_BUFFER_FACTOR * jitter_ms)
    return rtt_ms / 2.0 + jitter_buffer + codec_impairment(codec).coding_delay_ms


def delay_impairment(ta_ms: float) -> float:
    """Id = Idte + Idle + Idd for mean one-way delay ``ta_ms`` with G.107 default echo parameters."""
    t = _check("ta_ms", ta_ms)
    tr = 2.0 * t
    # Talker echo (TELR 65 dB, echo path delay T).
    terv = TELR - 40.0 * math.log10((1.0 + t / 10.0) / (1.0 + t / 150.0)) + 6.0 * math.exp(-0.3 * t * t)
    re = 80.0 + 2.5 * (terv - 14.0)
    roe = -1.5 * (NO - RLR)
    idte = ((roe - re) / 2.0 + math.sqrt((roe - re) ** 2 / 4.0 + 100.0) - 1.0) * (1.0 - math.exp(-t))
    # Listener echo (WEPL 110 dB, round trip Tr).
    rle = 10.5 * (WEPL + 7.0) * (tr + 1.0) ** -0.25
    idle = (RO - rle) / 2.0 + math.sqrt((RO - rle) ** 2 / 4.0 + 169.0)
    # Pure delay, only above mT.
    idd = 0.0
    if t > MT_MS:
        x = math.log10(t / MT_MS) / math.log10(2.0)
        idd = 25.0 * ((1.0 + x ** 6) ** (1.0 / 6.0) - 3.0 * (1.0 + (x / 3.0) ** 6) ** (1.0 / 6.0) + 2.0)
    return idte + idle + idd


def effective_equipment_impairment(packet_loss: float, codec: str) -> float:
    """Ie_eff for a packet-loss fraction (0..1) and codec, random loss (BurstR = 1)."""
    ppl = _check("packet_loss", packet_loss, 1.0) * 100.0
    c = codec_impairment(codec)
    return c.ie + (95.0 - c.ie) * ppl / (ppl / BURST_RATIO + c.bpl)


def r_factor(rtt_ms: float, jitter_ms: float, packet_loss: float, codec: str) -> float:
    """Transmission rating R from network measurements (packet_loss is a fraction 0..1)."""
    ta = one_way_delay_ms(rtt_ms, jitter_ms, codec)
    return RO - IS - delay_impairment(ta) - effective_equipment_impairment(packet_loss, codec) + ADVANTAGE


def mos_from_r(r: float) -> float:
    """G.107 Annex B: estimated conversational MOS (1..4.5) from R."""
    r = float(r)
    if math.isnan(r):
        raise ValueError("R is NaN")
    if r <= 0:
        return 1.0
    if r >= 100:
        return 4.5
    return 1.0 + 0.035 * r + r * (r - 60.0) * (100.0 - r) * 7e-6


def mos_from_network(rtt_ms: float, jitter_ms: float, packet_loss: float, codec: str) -> float:
    """MOS for one measurement: RTT and jitter in ms, packet loss a fraction 0..1, codec name."""
    return mos_from_r(r_factor(rtt_ms, jitter_ms, packet_loss, codec))


def quality_bucket(mos: float) -> str:
    """'excellent' above 4.2, 'good' 3.7-4.2, 'fair' 3.1-3.7, 'poor' below 3.1."""
    mos = float(mos)
    if math.isnan(mos):
        raise ValueError("MOS is NaN")
    if mos > EXCELLENT_ABOVE:
        return "excellent"
    if mos >= GOOD_FROM:
        return "good"
    if mos >= FAIR_FROM:
        return "fair"
    return "poor"
