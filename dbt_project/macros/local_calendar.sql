{#- Each organization's own calendar: days and months in the organization's time zone, the zone in force at
    each instant (public.organization_timezone_history, as int_org_timezone_periods).

    The rule is the SQL function org_local_date() (migration 1500): an instant is dated in the zone in
    force then, and the first day of a new zone (the 1st of the month after the change) starts when the
    zone takes effect. These macros are its set-based form, a join on the periods instead of a function call per
    row; tests/analytics/test_local_days.py checks that both date every row alike.

    A night (interval_end) builds the local days that had ended by its end: per organization, the days
    before the local date of interval_end (night_end_dates). At 02:00 UTC a UTC-10 organization's day still
    has 8 hours to run (built the next night) while a UTC+13 organization's next day is under way. -#}

{#- The period `p` (a row of int_org_timezone_periods) holds the instant `ts`. -#}
{% macro in_zone_period(ts, p='p') -%}
    ({{ ts }} >= {{ p }}.effective_from and {{ ts }} < {{ p }}.effective_to)
{%- endmacro %}

{#- The local date of `ts` in period `p` (org_local_date()). -#}
{% macro local_date(ts, p='p') -%}
    greatest(({{ ts }} at time zone {{ p }}.timezone)::date, {{ p }}.first_local_date)
{%- endmacro %}

{#- Per organization, the first local day that had not ended by the night's end: days before it are built. -#}
{% macro night_end_dates(periods) -%}
    select
        p.organization_id,
        {{ local_date(interval_end()) }} as end_date
    from {{ periods }} as p
    where {{ in_zone_period(interval_end()) }}
{%- endmacro %}

{#- First local day an incremental run rebuilds, as a date literal: the days that ended during the night
    are the night's UTC day or the day before it (zones west of UTC end later), and `lookback_days` more. -#}
{% macro local_window_start_date() -%}
    date '{{ (_night_bounds()['start'] - modules.datetime.timedelta(days=var('lookback_days') + 1)).date().isoformat() }}'
{%- endmacro %}

{#- The instants any organization's local day `day` can hold: time zones run from UTC-12 to UTC+14. -#}
{% macro local_day_read_start(day) -%}
    (({{ day }})::timestamp at time zone 'UTC' - interval '14 hours')
{%- endmacro %}

{% macro local_day_read_end(day) -%}
    ((({{ day }}) + 1)::timestamp at time zone 'UTC' + interval '12 hours')
{%- endmacro %}
