"""The job registry: every batch job the orchestrators and people run, by name.

A job is a function ``fn(ctx: JobContext, **params) -> dict`` registered with :func:`job` in a
``jobs.py`` module of a domain package (``auralink/<domain>/jobs.py``); :func:`discover` imports
those modules, so adding a job never means editing a central list.
"""

from auralink.jobs.registry import (
    Job,
    JobContext,
    JobFailed,
    UnknownJob,
    all_jobs,
    discover,
    get_job,
    job,
    nightly_jobs,
    run_job,
)

__all__ = ["Job", "JobContext", "JobFailed", "UnknownJob", "all_jobs", "discover", "get_job", "job",
           "nightly_jobs", "run_job"]
