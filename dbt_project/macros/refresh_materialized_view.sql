{#- How dbt refreshes the mart materialized views. Plain REFRESH by default: the views sit on small daily
    aggregates, so a plain refresh holds its lock for a fraction of a second, while CONCURRENTLY recomputes
    the same query and then diffs it (measured ~3x slower at 90 days, bench/bench_analytics.py). Set the
    var `concurrent_refresh: true` when dashboards must never wait; every view has the unique index it
    needs, and refresh_analytics_views() refreshes them concurrently outside dbt. -#}
{% macro postgres__refresh_materialized_view(relation) %}
    {%- set populated = none -%}
    {%- if var('concurrent_refresh', false) and execute -%}
        {%- set populated = run_query(
            "select relispopulated from pg_class c join pg_namespace n on n.oid = c.relnamespace"
            ~ " where n.nspname = '" ~ relation.schema ~ "' and c.relname = '" ~ relation.identifier ~ "'") -%}
    {%- endif -%}
    {%- if populated and populated.rows and populated.rows[0][0] -%}
    refresh materialized view concurrently {{ relation }}
    {%- else -%}
    refresh materialized view {{ relation }}
    {%- endif -%}
{% endmacro %}
