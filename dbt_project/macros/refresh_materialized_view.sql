{#- dbt-postgres refreshes materialized views with a plain REFRESH, which locks dashboard readers out for
    the whole refresh. Every mart view here has a unique index, so refresh CONCURRENTLY once it holds
    data (a never-populated view cannot be refreshed concurrently). -#}
{% macro postgres__refresh_materialized_view(relation) %}
    {%- set populated = run_query(
        "select relispopulated from pg_class c join pg_namespace n on n.oid = c.relnamespace"
        ~ " where n.nspname = '" ~ relation.schema ~ "' and c.relname = '" ~ relation.identifier ~ "'") -%}
    {%- if execute and populated and populated.rows and populated.rows[0][0] -%}
    refresh materialized view concurrently {{ relation }}
    {%- else -%}
    refresh materialized view {{ relation }}
    {%- endif -%}
{% endmacro %}
