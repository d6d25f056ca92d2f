"""Glue for the orchestrators (Airflow, Argo): thin wrappers over the job registry."""
