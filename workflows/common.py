"""Builders every workflow shares: the step container, secrets, retries, resources and run tracking."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

from auralink.jobs.registry import Job
from hera.workflows import ConfigMapEnvFrom, Container, Parameter, Resources, RetryStrategy, SecretEnv
from hera.workflows.models import (
    Backoff,
    ConfigMapKeySelector,
    PodGC,
    PodSecurityContext,
    SecurityContext,
    SemaphoreRef,
    Synchronization,
    TTLStrategy,
)

IMAGE_REPOSITORY = "ghcr.io/auralink/data-platform"
SERVICE_ACCOUNT = "auralink-workflows"  # needs Argo's executor role (create/patch workflowtaskresults)
RUN_AS_USER = 10001  # the non-root user of the Dockerfile

# Kubernetes Secrets the steps read (create them with docs/argo.md): names only, never values.
DATABASE_SECRET = ("auralink-db", "url")
OPENAI_SECRET = ("auralink-openai", "api-key")
ENCRYPTION_SECRET = ("auralink-secret-key", "key")  # AES-256-GCM key of secrets at rest (compliance jobs)
# Optional ConfigMap of non-secret settings for every step (AURALINK_STT_ENGINE, AURALINK_OPENAI_BASE_URL,
# AURALINK_SUMMARY_MODEL, AURALINK_LOG_LEVEL...): a cluster tunes the jobs without regenerating the YAML.
SETTINGS_CONFIGMAP = "auralink-settings"

# ConfigMap holding the semaphore that bounds concurrent LLM calls across every workflow in the namespace.
LLM_SEMAPHORE = ("auralink-llm-limits", "summarize")

# The fan-out steps: one CPU and 2 GiB, requested and limited alike (Guaranteed QoS, no noisy neighbours).
BATCH_RESOURCES = Resources(cpu_request="1", cpu_limit="1", memory_request="2Gi", memory_limit="2Gi")
# Bookkeeping steps (run tracking, selecting work) only talk to Postgres.
LIGHT_RESOURCES = Resources(cpu_request="100m", cpu_limit="500m", memory_request="256Mi", memory_limit="512Mi")


def default_image() -> str:
    """The image the committed YAML uses: the project image tagged with the package version."""
    try:
        tag = version("auralink")
    except PackageNotFoundError:  # a checkout that was never installed
        tag = "latest"
    return f"{IMAGE_REPOSITORY}:{tag}"


@dataclass(frozen=True)
class Settings:
    """What differs between clusters and releases; everything else is fixed in the modules."""

    image: str
    service_account: str = SERVICE_ACCOUNT


def transient_retry(limit: int = 4) -> RetryStrategy:
    """Exponential backoff (30 s, 60 s, 120 s, ... capped at 10 min) on errors a retry can fix.

    ``auralink`` exits 1 on a failed job or an unreachable database and 2 on bad arguments or an unknown
    job; ``Error`` is a pod that never ran or was evicted. Bad arguments and OOM kills (137) are not retried:
    the same input would fail the same way.
    """
    return RetryStrategy(
        limit=str(limit),
        retry_policy="Always",
        expression="lastRetry.status == 'Error' || asInt(lastRetry.exitCode) == 1",
        backoff=Backoff(duration="30s", factor="2", max_duration="10m"),
    )


def database_env() -> list[SecretEnv]:
    return [SecretEnv(name="DATABASE_URL", secret_name=DATABASE_SECRET[0], secret_key=DATABASE_SECRET[1])]


def llm_env() -> list[SecretEnv]:
    # optional: without the secret the summarizer uses its offline fallback instead of failing the step.
    return [SecretEnv(name="OPENAI_API_KEY", secret_name=OPENAI_SECRET[0], secret_key=OPENAI_SECRET[1],
                      optional=True)]


def encryption_key_env() -> list[SecretEnv]:
    return [SecretEnv(name="AURALINK_SECRET_KEY", secret_name=ENCRYPTION_SECRET[0], secret_key=ENCRYPTION_SECRET[1])]


def llm_semaphore() -> Synchronization:
    return Synchronization(semaphores=[SemaphoreRef(
        config_map_key_ref=ConfigMapKeySelector(name=LLM_SEMAPHORE[0], key=LLM_SEMAPHORE[1]))])


def auralink_step(
    settings: Settings,
    name: str,
    args: Sequence[str],
    *,
    inputs: Sequence | None = None,
    outputs: Sequence | None = None,
    resources: Resources = BATCH_RESOURCES,
    retries: int = 4,
    extra_env: Sequence[SecretEnv] = (),
    synchronization: Synchronization | None = None,
    timeout: str | None = None,
) -> Container:
    """A container template running ``auralink ARGS`` in the project image (created in the current workflow)."""
    return Container(
        name=name,
        image=settings.image,
        command=["auralink"],  # explicit: the emissary executor would otherwise look the entrypoint up
        args=list(args),
        env=[*database_env(), *extra_env],
        env_from=[ConfigMapEnvFrom(name=SETTINGS_CONFIGMAP, optional=True)],
        inputs=list(inputs) if inputs else None,
        outputs=list(outputs) if outputs else None,
        resources=resources,
        retry_strategy=transient_retry(retries) if retries else None,
        synchronization=synchronization,
        timeout=timeout,
        security_context=SecurityContext(allow_privilege_escalation=False),
    )


def job_args(job: str, night: Sequence[str] = (), **params: str) -> list[str]:
    """``jobs run JOB -p k=v ... [night] --triggered-by argo``: the same entry point Airflow and people use."""
    args = ["jobs", "run", job]
    for key, value in params.items():
        args += ["-p", f"{key}={value}"]
    return args + list(night) + ["--triggered-by", "argo"]


# The night a workflow's steps process: the ``date`` parameter when given, else the UTC day before the
# workflow was created (a CronWorkflow creates it at its scheduled time). Every step reads the same two
# values, so a night that runs past midnight still processes one day.
NIGHT_ARGS = ("--date", "{{workflow.parameters.date}}", "--scheduled-time", "{{workflow.creationTimestamp}}")


def step_name(job: str) -> str:
    """Argo template and task names allow no underscores: ``dbt_build`` -> ``dbt-build``."""
    return job.replace("_", "-")


def job_parameter(job: str, name: str) -> str:
    """The workflow parameter carrying a job parameter: ``transcribe-recordings-batch-size``."""
    return step_name(f"{job}-{name}")


def _describe(schema: dict) -> str:
    """A JSON Schema in a few words for Argo's parameter description (the UI shows it)."""
    options = schema.get("anyOf") or [schema]
    kinds = []
    for option in options:
        kind = option.get("format") or option.get("type", "value")
        bounds = [f"{sym} {option[key]}" for key, sym in (("minimum", ">="), ("exclusiveMinimum", ">"),
                                                           ("maximum", "<="), ("exclusiveMaximum", "<"))
                  if key in option]
        kinds.append(" ".join([kind, *bounds]) if kind != "null" else "empty for the default")
    return ", or ".join(kinds)


def job_parameters(job: Job) -> list[Parameter]:
    """One workflow parameter per job parameter, from the job's declared schema (as Airflow's Params)."""
    out = []
    for name, schema in job.param_schema().items():
        default = schema.get("default")
        value = "" if default is None else (str(default).lower() if isinstance(default, bool) else str(default))
        out.append(Parameter(name=job_parameter(job.name, name), value=value,
                             description=f"{job.name}.{name}: {_describe(schema)}"))
    return out


def job_step(settings: Settings, job: Job, **overrides: str) -> Container:
    """The container template running one registered job for the workflow's night, with its own retries,
    timeout and secrets from the registry; every job parameter comes from its workflow parameter."""
    params = {name: f"{{{{workflow.parameters.{job_parameter(job.name, name)}}}}}" for name in job.parameters()}
    params.update(overrides)
    extra: list[SecretEnv] = []
    if "secret_key" in job.secrets:
        extra += encryption_key_env()
    if "llm" in job.secrets:
        extra += llm_env()
    return auralink_step(settings, step_name(job.name), job_args(job.name, NIGHT_ARGS, **params),
                         retries=job.retries, timeout=f"{job.timeout_minutes}m", extra_env=extra)


def _record_args(template: str, status: str) -> list[str]:
    return ["argo", "record", "--name", "{{workflow.name}}", "--uid", "{{workflow.uid}}",
            "--namespace", "{{workflow.namespace}}", "--template", template, "--status", status,
            "--started-at", "{{workflow.creationTimestamp}}", "--parameters", "{{workflow.parameters.json}}"]


def record_start_step(settings: Settings, template: str) -> Container:
    """First task of every workflow: its row in argo_workflows, status Running."""
    return auralink_step(settings, "record-start", _record_args(template, "Running"), resources=LIGHT_RESOURCES)


def record_exit_step(settings: Settings, template: str) -> Container:
    """The exit handler: the final status and, when something failed, which nodes and why."""
    return auralink_step(
        settings, "record-exit",
        [*_record_args(template, "{{workflow.status}}"), "--failures", "{{workflow.failures}}"],
        resources=LIGHT_RESOURCES,
    )


def workflow_defaults(settings: Settings, template: str, description: str) -> dict:
    """Spec fields every workflow sets: identity labels, service account, non-root pods, cleanup."""
    return {
        "annotations": {"workflows.argoproj.io/description": description},
        "labels": {"app.kubernetes.io/part-of": "auralink", "auralink.io/workflow": template},
        "service_account_name": settings.service_account,
        "security_context": PodSecurityContext(run_as_non_root=True, run_as_user=RUN_AS_USER,
                                               run_as_group=RUN_AS_USER, fs_group=RUN_AS_USER),
        "pod_gc": PodGC(strategy="OnPodSuccess"),
        "ttl_strategy": TTLStrategy(seconds_after_success=7 * 86400, seconds_after_failure=14 * 86400),
        "on_exit": "record-exit",
    }


def forward(names: Sequence[str], scope: str) -> dict[str, str]:
    """Arguments passing parameters on by name: ``forward(["a"], "workflow.parameters")`` -> {"a": "{{...a}}"}."""
    return {name: f"{{{{{scope}.{name}}}}}" for name in names}


def parameters(**defaults: str) -> list[Parameter]:
    return [Parameter(name=name.replace("_", "-"), value=value) for name, value in defaults.items()]
