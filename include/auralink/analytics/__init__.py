"""Analytics: the dbt project (dbt_project/) run programmatically, and the AI-cost job.

Importing this package stays cheap (DAG parsing imports ``auralink.analytics.jobs``): dbt is imported
inside the functions that run it.
"""
