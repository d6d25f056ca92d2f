{#-
  ITU-T G.107 E-model, the SQL twin of include/auralink/quality/mos.py (same constants, same formulas;
  the module docstring documents them). Both are tested against seeds/mos_reference_points.csv and must
  agree to 0.01 MOS. Arguments are SQL expressions; codec values (ie, bpl, coding_delay_ms) come from the
  codec_impairment seed.
-#}

{#- Mean one-way (mouth-to-ear) delay Ta in ms: half the RTT, an adaptive jitter buffer of two jitter
    spans (at least 20 ms), and the codec's packetisation + look-ahead. -#}
{% macro g107_one_way_delay_ms(rtt_ms, jitter_ms, coding_delay_ms) -%}
    (({{ rtt_ms }})::float8 / 2.0 + greatest(20.0, 2.0 * ({{ jitter_ms }})::float8) + ({{ coding_delay_ms }})::float8)
{%- endmacro %}

{#- Id = Idte + Idle + Idd with TELR 65 dB, WEPL 110 dB, T = Ta, Tr = 2 Ta. The exp() guards only avoid
    PostgreSQL's float underflow error where the term is already 0 (Python returns 0.0 there). -#}
{% macro g107_delay_impairment(ta) -%}
    {%- set t = "(" ~ ta ~ ")::float8" -%}
    {%- set roe = "(-1.5 * (-61.18 - 2.0))" -%}
    {%- set re -%}(80.0 + 2.5 * ((65.0 - 40.0 * log(((1.0 + {{ t }} / 10.0) / (1.0 + {{ t }} / 150.0))::float8) + case when {{ t }} < 40.0 then 6.0 * exp(-0.3 * {{ t }} * {{ t }}) else 0.0 end) - 14.0)){%- endset -%}
    {%- set rle -%}(10.5 * (110.0 + 7.0) * power(2.0 * {{ t }} + 1.0, -0.25)){%- endset -%}
    (
      /* Idte: talker echo */
      ((({{ roe }}) - {{ re }}) / 2.0 + sqrt(power(({{ roe }}) - {{ re }}, 2) / 4.0 + 100.0) - 1.0) * (case when {{ t }} < 700.0 then 1.0 - exp(-{{ t }}) else 1.0 end)
      /* Idle: listener echo */
      + ((94.77 - {{ rle }}) / 2.0 + sqrt(power(94.77 - {{ rle }}, 2) / 4.0 + 169.0))
      /* Idd: pure delay above mT = 100 ms */
      + case when {{ t }} > 100.0 then
          25.0 * (power(1.0 + power(log(({{ t }} / 100.0)::float8) / log(2.0::float8), 6), 1.0 / 6.0)
                  - 3.0 * power(1.0 + power(log(({{ t }} / 100.0)::float8) / log(2.0::float8) / 3.0, 6), 1.0 / 6.0)
                  + 2.0)
        else 0.0 end
    )
{%- endmacro %}

{#- Ie_eff = Ie + (95 - Ie) * Ppl / (Ppl / BurstR + Bpl), Ppl in percent, BurstR = 1. -#}
{% macro g107_effective_equipment_impairment(packet_loss, ie, bpl) -%}
    (({{ ie }})::float8 + (95.0 - ({{ ie }})::float8) * (100.0 * ({{ packet_loss }})::float8)
        / ((100.0 * ({{ packet_loss }})::float8) / 1.0 + ({{ bpl }})::float8))
{%- endmacro %}

{#- R = Ro - Is - Id - Ie_eff + A, with Ro = 94.77, Is = 1.41, A = 0. -#}
{% macro g107_r_factor(ta, packet_loss, ie, bpl) -%}
    (94.77 - 1.41 - {{ g107_delay_impairment(ta) }} - {{ g107_effective_equipment_impairment(packet_loss, ie, bpl) }} + 0.0)
{%- endmacro %}

{#- G.107 Annex B: R -> MOS. -#}
{% macro g107_mos_from_r(r) -%}
    (case when ({{ r }}) <= 0 then 1.0::float8
          when ({{ r }}) >= 100 then 4.5::float8
          else 1.0 + 0.035 * ({{ r }}) + ({{ r }}) * (({{ r }}) - 60.0) * (100.0 - ({{ r }})) * 7e-6 end)
{%- endmacro %}

{#- excellent > 4.2, good 3.7-4.2, fair 3.1-3.7, poor below. -#}
{% macro mos_quality_bucket(mos) -%}
    (case when ({{ mos }}) is null then null
          when ({{ mos }}) > 4.2 then 'excellent'
          when ({{ mos }}) >= 3.7 then 'good'
          when ({{ mos }}) >= 3.1 then 'fair'
          else 'poor' end)
{%- endmacro %}
