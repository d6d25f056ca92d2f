{#- Data tests bounded to the night's window: a test's `where:` config may name the window with
    placeholders, replaced here when the test compiles (the pattern dbt documents for the `where` config):

      __window_start__        the first instant an incremental run rebuilds (timestamptz, see window_start())
      __window_start_date__   the same day as a date
      __interval_end__        the night's end, exclusive (timestamptz)
      __interval_end_date__   the day after the night (date)

    e.g. `where: "last_sampled_at >= __window_start__"` checks the rows the night rebuilt, so a steady
    night's tests read a night's rows, not the whole history. -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}
        {%- set where = where
            | replace('__window_start_date__', window_start_date())
            | replace('__window_start__', window_start())
            | replace('__interval_end_date__', interval_end_date())
            | replace('__interval_end__', interval_end()) -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
