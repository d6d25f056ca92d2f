"""AuraLink data platform: the job library that Airflow DAGs, Argo workflows and people run."""

__version__ = "0.1.0"
