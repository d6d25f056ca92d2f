"""Call quality: the ITU-T G.107 E-model MOS (``auralink.quality.mos``)."""

from auralink.quality.mos import (
    CODECS,
    CodecImpairment,
    UnknownCodec,
    codec_impairment,
    delay_impairment,
    effective_equipment_impairment,
    mos_from_network,
    mos_from_r,
    one_way_delay_ms,
    quality_bucket,
    r_factor,
)

__all__ = [
    "CODECS", "CodecImpairment", "UnknownCodec", "codec_impairment", "delay_impairment",
    "effective_equipment_impairment", "mos_from_network", "mos_from_r", "one_way_delay_ms",
    "quality_bucket", "r_factor",
]
