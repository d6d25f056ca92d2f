"""The scheduled graphs, built from what each job declares in the registry (``after``, ``produces``).

``nightly`` is the night: partitions, recordings, quality gates, dbt, billing, reports, security,
compliance. ``recordings`` is its recordings part on its own, every 4 hours. The Airflow DAGs, the Argo
nightly and ``auralink pipeline run`` are all rendered from :func:`edges` and :func:`topological`, and a
test checks that the three carry the same jobs and edges.

An ``after`` entry names a job, or a table that some job ``produces`` (``public.call_summaries``): the
edge then runs from that job. Edges to jobs outside a pipeline are dropped in that pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass

from auralink.jobs.registry import Job, all_jobs, get_job


class GraphError(ValueError):
    """The declarations do not form a graph (unknown reference, cycle) or a selection selects nothing."""


@dataclass(frozen=True)
class Pipeline:
    name: str
    schedule: str        # cron, UTC
    description: str


PIPELINES: dict[str, Pipeline] = {
    "nightly": Pipeline("nightly", "0 2 * * *",
                        "The night: each job processes the UTC day before the run's trigger time."),
    "recordings": Pipeline("recordings", "0 */4 * * *",
                           "Transcription, call quality and summaries of pending recordings, every 4 hours."),
}


def jobs_of(pipeline: str) -> list[Job]:
    if pipeline not in PIPELINES:
        raise GraphError(f"unknown pipeline {pipeline!r}; pipelines: {', '.join(PIPELINES)}")
    return [j for j in all_jobs() if pipeline in j.pipelines]


def producers() -> dict[str, str]:
    """Table -> the job that produces it."""
    out: dict[str, str] = {}
    for j in all_jobs():
        for table in j.produces:
            if table in out and out[table] != j.name:
                raise GraphError(f"{table} is produced by two jobs: {out[table]} and {j.name}")
            out[table] = j.name
    return out


def upstream_of(job_def: Job) -> list[str]:
    """The jobs ``job_def`` runs after, its table references resolved to their producers."""
    made_by = producers()
    names = []
    for ref in job_def.after:
        if ref in made_by:
            name = made_by[ref]
        else:
            try:
                name = get_job(ref).name
            except LookupError:
                raise GraphError(f"job {job_def.name} runs after {ref!r}, which is neither a job nor a table "
                                 "any job produces") from None
        if name != job_def.name and name not in names:
            names.append(name)
    return names


def edges(pipeline: str) -> set[tuple[str, str]]:
    """(upstream, downstream) job names within the pipeline."""
    members = {j.name for j in jobs_of(pipeline)}
    return {(up, j.name) for j in jobs_of(pipeline) for up in upstream_of(j) if up in members}


def topological(pipeline: str) -> list[Job]:
    """The pipeline's jobs, every job after its upstreams; ties by stage (display order), then name."""
    jobs = {j.name: j for j in jobs_of(pipeline)}
    graph = edges(pipeline)
    waiting = {name: {u for u, d in graph if d == name} for name in jobs}
    order: list[Job] = []
    while waiting:
        ready = sorted((n for n, ups in waiting.items() if not ups),
                       key=lambda n: (jobs[n].stage if jobs[n].stage is not None else 999, n))
        if not ready:
            raise GraphError(f"the {pipeline} graph has a cycle among: {', '.join(sorted(waiting))}")
        name = ready[0]
        order.append(jobs[name])
        del waiting[name]
        for ups in waiting.values():
            ups.discard(name)
    return order


def _closure(start: str, graph: set[tuple[str, str]], *, down: bool) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        node = todo.pop()
        for u, d in graph:
            nxt = d if down else u
            if (u if down else d) == node and nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _matches(spec: str, names: set[str], graph: set[tuple[str, str]]) -> set[str]:
    """dbt's graph operators: ``job``, ``+job`` (and what it runs after), ``job+`` (and what runs after it)."""
    name = spec.strip().strip("+")
    if name not in names:
        raise GraphError(f"no job {name!r} in the graph; jobs: {', '.join(sorted(names))}")
    out = {name}
    if spec.strip().startswith("+"):
        out |= _closure(name, graph, down=False)
    if spec.strip().endswith("+"):
        out |= _closure(name, graph, down=True)
    return out


def select(pipeline: str, select: list[str] | None = None, exclude: list[str] | None = None) -> list[Job]:
    """The pipeline's jobs picked by ``select`` (all when empty) minus ``exclude``, in topological order.
    A selection that leaves nothing is a usage error."""
    order = topological(pipeline)
    names = {j.name for j in order}
    graph = edges(pipeline)
    chosen = set(names)
    if select:
        chosen = set().union(*(_matches(s, names, graph) for s in select))
    for spec in exclude or ():
        chosen -= _matches(spec, names, graph)
    if not chosen:
        raise GraphError(f"the selection (select={select or 'all'}, exclude={exclude or 'none'}) "
                         f"leaves no job of the {pipeline} graph to run")
    return [j for j in order if j.name in chosen]


def validate() -> None:
    """Every reference resolves and every pipeline is acyclic (the DAG integrity test calls this)."""
    for j in all_jobs():
        upstream_of(j)
    for pipeline in PIPELINES:
        topological(pipeline)
