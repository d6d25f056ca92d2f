"""The generated Argo YAML: committed copy up to date, valid against Argo's schema, internally consistent,
and saying what the issue asks (fan-out, resources, retries, semaphore, schedule, secrets)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / "workflows"
EXPECTED = {"ai-batch-processing.yaml": "WorkflowTemplate", "transcription.yaml": "WorkflowTemplate",
            "summarization.yaml": "WorkflowTemplate", "nightly.yaml": "WorkflowTemplate",
            "nightly-cron.yaml": "CronWorkflow"}
# The documents that hold templates (the CronWorkflow only references the nightly WorkflowTemplate).
WITH_TEMPLATES = sorted(n for n in EXPECTED if n != "nightly-cron.yaml")


def spec_of(doc: dict) -> dict:
    return doc["spec"]["workflowSpec"] if doc["kind"] == "CronWorkflow" else doc["spec"]


def templates_of(doc: dict) -> dict[str, dict]:
    return {t["name"]: t for t in spec_of(doc).get("templates", [])}


def containers_of(doc: dict) -> dict[str, dict]:
    return {name: t for name, t in templates_of(doc).items() if "container" in t}


# --- the committed YAML -------------------------------------------------------------------------

def test_every_workflow_is_generated(rendered):
    assert sorted(rendered) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_committed_yaml_equals_what_the_modules_generate(rendered, name):
    committed = WORKFLOWS / name
    assert committed.exists(), f"{committed} is missing: run `python -m workflows.generate` and commit it"
    assert committed.read_text() == rendered[name], (
        f"{committed} is stale: run `python -m workflows.generate` (make workflows) and commit it")


def test_check_mode_passes_on_the_checkout_and_never_writes(tmp_path):
    before = {p.name: p.stat().st_mtime_ns for p in WORKFLOWS.glob("*.yaml")}
    proc = subprocess.run([sys.executable, "-m", "workflows.generate", "--check"], check=False, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert {p.name: p.stat().st_mtime_ns for p in WORKFLOWS.glob("*.yaml")} == before


def test_check_mode_fails_on_stale_missing_and_orphaned_files(tmp_path, rendered):
    from workflows.generate import main

    assert main(["--out-dir", str(tmp_path), "--check"]) == 1  # all missing
    assert list(tmp_path.iterdir()) == []  # --check never writes
    assert main(["--out-dir", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(EXPECTED)
    assert main(["--out-dir", str(tmp_path), "--check"]) == 0

    stale = tmp_path / "nightly-cron.yaml"
    stale.write_text(stale.read_text().replace("0 2 * * *", "0 3 * * *"))
    assert main(["--out-dir", str(tmp_path), "--check"]) == 1
    assert "0 3 * * *" in stale.read_text()

    main(["--out-dir", str(tmp_path)])
    orphan = tmp_path / "old-workflow.yaml"
    orphan.write_text(rendered["nightly-cron.yaml"])
    assert main(["--out-dir", str(tmp_path), "--check"]) == 1


def test_image_is_configurable_at_generation(tmp_path):
    from workflows.generate import main

    assert main(["--out-dir", str(tmp_path), "--image", "registry.example.com/auralink:1.2.3"]) == 0
    for path in tmp_path.glob("*.yaml"):
        if path.name not in WITH_TEMPLATES:
            continue
        images = {c["container"]["image"] for c in containers_of(yaml.safe_load(path.read_text())).values()}
        assert images == {"registry.example.com/auralink:1.2.3"}, path.name


# --- Argo's schema and internal consistency -----------------------------------------------------

@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_validates_against_argo_schema(argo_validator, documents, name):
    doc = documents[name]
    assert doc["apiVersion"] == "argoproj.io/v1alpha1" and doc["kind"] == EXPECTED[name]
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in argo_validator.iter_errors(doc)]
    assert errors == []


def test_schema_validation_can_fail(argo_validator, documents):
    doc = yaml.safe_load(yaml.safe_dump(documents["nightly-cron.yaml"]))
    doc["spec"]["startingDeadlineSeconds"] = "an hour"
    assert list(argo_validator.iter_errors(doc))


_VAR = re.compile(r"\{\{\s*([^}]+?)\s*\}\}")
_GLOBALS = {"workflow.name", "workflow.namespace", "workflow.uid", "workflow.status", "workflow.creationTimestamp",
            "workflow.serviceAccountName", "workflow.mainEntrypoint", "workflow.duration"}


def lint(doc: dict) -> list[str]:
    """What `argo lint` would refuse and the schema cannot see: dangling references and missing inputs."""
    spec, templates, problems = spec_of(doc), templates_of(doc), []
    workflow_params = {p["name"] for p in spec.get("arguments", {}).get("parameters", [])}
    for ref in (spec["entrypoint"], spec.get("onExit")):
        if ref and ref not in templates:
            problems.append(f"entrypoint/onExit {ref!r} is no template")
    for name, tmpl in templates.items():
        inputs = {p["name"] for p in tmpl.get("inputs", {}).get("parameters", [])}
        for var in _VAR.findall(yaml.safe_dump({k: v for k, v in tmpl.items() if k != "dag"})):
            if var.startswith("inputs.parameters.") and var.split(".", 2)[2] not in inputs:
                problems.append(f"{name}: {var} is not an input")
            elif var == "workflow.parameters.json":
                if not workflow_params:  # Argo defines it only when the workflow has parameters
                    problems.append(f"{name}: {var} in a workflow without parameters")
            elif var.startswith("workflow.parameters."):
                if var.split(".", 2)[2] not in workflow_params:
                    problems.append(f"{name}: {var} is not a workflow parameter")
            elif var == "workflow.failures":
                if name != spec.get("onExit"):
                    problems.append(f"{name}: {var} exists only in the exit handler")
            elif var.startswith("workflow.") and var not in _GLOBALS:
                problems.append(f"{name}: {var} is no Argo global variable")
        if "timeout" in tmpl and "container" not in tmpl:
            problems.append(f"{name}: only leaf templates take a timeout")
        tasks = {t["name"]: t for t in tmpl.get("dag", {}).get("tasks", [])}
        for tname, task in tasks.items():
            target = templates.get(task.get("template"))
            if target is None:
                problems.append(f"{name}/{tname}: template {task.get('template')!r} does not exist")
                continue
            for dep in re.findall(r"[A-Za-z0-9-]+", task.get("depends", "")):
                if dep not in tasks:
                    problems.append(f"{name}/{tname}: depends on unknown task {dep!r}")
            given = {p["name"] for p in task.get("arguments", {}).get("parameters", [])}
            needed = {p["name"] for p in target.get("inputs", {}).get("parameters", []) if "value" not in p
                      and "default" not in p}
            if needed - given:
                problems.append(f"{name}/{tname}: missing inputs {sorted(needed - given)}")
            if given - {p["name"] for p in target.get("inputs", {}).get("parameters", [])}:
                problems.append(f"{name}/{tname}: passes parameters its template does not take")
            for var in _VAR.findall(yaml.safe_dump(task)):
                head = var.split(".")
                if head[0] == "tasks" and head[1] not in tasks:
                    problems.append(f"{name}/{tname}: {var} refers to an unknown task")
                if head[0] == "inputs" and head[1] == "parameters" and head[2] not in inputs:
                    problems.append(f"{name}/{tname}: {var} is not an input of {name}")
                if head[0] == "item" and "withParam" not in task and "withItems" not in task:
                    problems.append(f"{name}/{tname}: uses {var} without a loop")
    return problems


@pytest.mark.parametrize("name", WITH_TEMPLATES)
def test_references_are_consistent(documents, name):
    assert lint(documents[name]) == []


def test_lint_can_fail(documents):
    doc = yaml.safe_load(yaml.safe_dump(documents["ai-batch-processing.yaml"]))
    main = templates_of(doc)["main"]
    main["dag"]["tasks"][1]["arguments"]["parameters"].pop()
    main["dag"]["tasks"][1]["depends"] = "record-begin"
    templates_of(doc)["record-start"]["container"]["args"].append("{{workflow.failures}}")
    templates_of(doc)["select-batches"]["container"]["args"].append("{{workflow.uuid}}")
    problems = lint(doc)
    assert any("missing inputs" in p for p in problems) and any("unknown task" in p for p in problems)
    assert any("only in the exit handler" in p for p in problems)
    assert any("no Argo global variable" in p for p in problems)


# --- what each workflow promises ----------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_steps_run_the_project_cli_with_secrets_from_kubernetes(documents, rendered, name):
    from workflows.common import default_image

    for tname, tmpl in containers_of(documents[name]).items():
        container = tmpl["container"]
        assert container["image"] == default_image()
        assert container["command"] == ["auralink"], tname
        env = {e["name"]: e for e in container["env"]}
        assert env["DATABASE_URL"] == {"name": "DATABASE_URL",
                                       "valueFrom": {"secretKeyRef": {"name": "auralink-db", "key": "url"}}}
        for e in container["env"]:
            if re.search(r"URL|KEY|TOKEN|PASSWORD|SECRET", e["name"]):
                assert "value" not in e and "secretKeyRef" in e["valueFrom"], f"{tname}: {e['name']} is not a secret ref"
        assert container["resources"]["requests"] and container["resources"]["limits"], tname
        assert container["envFrom"] == [{"configMapRef": {"name": "auralink-settings", "optional": True}}]
    text = rendered[name]
    assert not re.search(r"postgres(ql)?://|sk-[A-Za-z0-9]{8}|password\s*[:=]", text, re.IGNORECASE)


@pytest.mark.parametrize("name", WITH_TEMPLATES)
def test_every_workflow_tracks_itself(documents, name):
    spec, containers = spec_of(documents[name]), containers_of(documents[name])
    template = documents[name]["metadata"]["name"]
    start, exit_ = containers["record-start"]["container"]["args"], containers["record-exit"]["container"]["args"]
    assert start[:2] == ["argo", "record"] and start[start.index("--status") + 1] == "Running"
    assert start[start.index("--template") + 1] == exit_[exit_.index("--template") + 1] == template
    assert exit_[exit_.index("--status") + 1] == "{{workflow.status}}"
    assert exit_[exit_.index("--failures") + 1] == "{{workflow.failures}}"
    assert spec["onExit"] == "record-exit"
    main = templates_of(documents[name])[spec["entrypoint"]]
    first = [t for t in main["dag"]["tasks"] if "depends" not in t]
    assert [t["template"] for t in first] == ["record-start"]


def _retry_is_exponential(tmpl: dict) -> None:
    retry = tmpl["retryStrategy"]
    assert int(retry["limit"]) >= 1
    assert retry["backoff"]["duration"] and int(retry["backoff"]["factor"]) == 2 and retry["backoff"]["maxDuration"]
    assert "lastRetry.status == 'Error'" in retry["expression"] and "exitCode) == 1" in retry["expression"]


def test_ai_batch_processing_fans_out_five_at_a_time_on_one_cpu_two_gib(documents):
    doc = documents["ai-batch-processing.yaml"]
    templates = templates_of(doc)
    assert templates["process-batches"]["parallelism"] == 5
    assert {t["template"] for t in templates["process-batches"]["dag"]["tasks"]} == {
        "transcribe-recordings", "analyze-call-quality"}
    batches = templates["transcribe-recordings"]  # the fan-out the nightly runs too
    assert batches["parallelism"] == 5
    fan_out = next(t for t in batches["dag"]["tasks"] if t["name"] == "transcribe-batch")
    assert fan_out["withParam"] == "{{tasks.select-batches.outputs.result}}"
    assert templates["select-batches"]["container"]["args"][:2] == ["recordings", "pending"]
    for name in ("transcribe-batch", "analyze-call-quality"):
        resources = templates[name]["container"]["resources"]
        assert resources["requests"] == resources["limits"] == {"cpu": "1", "memory": "2Gi"}
    for name, tmpl in containers_of(doc).items():
        _retry_is_exponential(tmpl)
    assert {p["name"]: p["value"] for p in doc["spec"]["arguments"]["parameters"]} == \
        {"batch-size": "50", "max-batches": "20"}


def test_transcription_passes_the_audio_as_an_artifact(documents):
    templates = templates_of(documents["transcription.yaml"])
    fetch, transcribe = templates["fetch"], templates["transcribe"]
    assert fetch["container"]["args"][:2] == ["recordings", "fetch"]
    out = fetch["outputs"]["artifacts"][0]
    assert out["path"] == "/tmp/audio" and fetch["container"]["args"][-1] == "/tmp/audio"
    assert transcribe["inputs"]["artifacts"] == [{"name": "audio", "path": "/tmp/audio"}]
    args = transcribe["container"]["args"]
    assert args[:2] == ["recordings", "transcribe"] and args[args.index("--audio") + 1] == "/tmp/audio"
    task = next(t for t in templates["main"]["dag"]["tasks"] if t["name"] == "transcribe")
    assert task["arguments"]["artifacts"] == [{"name": "audio", "from": "{{tasks.fetch.outputs.artifacts.audio}}"}]


def test_summarization_holds_the_llm_semaphore(documents):
    templates = templates_of(documents["summarization.yaml"])
    summarize = templates["summarize-worker"]
    assert summarize["synchronization"] == {
        "semaphores": [{"configMapKeyRef": {"name": "auralink-llm-limits", "key": "summarize"}}]}
    assert summarize["container"]["args"][:3] == ["jobs", "run", "summarize_transcripts"]
    env = {e["name"]: e for e in summarize["container"]["env"]}
    assert env["OPENAI_API_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "auralink-openai"
    assert templates["select-transcripts"]["container"]["args"][:2] == ["argo", "pending-summaries"]
    task = next(t for t in templates["summarize"]["dag"]["tasks"] if t["name"] == "summarize-worker")
    assert task["withParam"] == "{{tasks.select-transcripts.outputs.result}}"
    for tmpl in containers_of(documents["summarization.yaml"]).values():
        _retry_is_exponential(tmpl)


def test_nightly_cron_runs_the_template_at_two_utc_suspended_never_overlapping(documents):
    spec = documents["nightly-cron.yaml"]["spec"]
    assert spec["schedules"] == ["0 2 * * *"] and "schedule" not in spec
    assert spec["timezone"] == "UTC" and spec["concurrencyPolicy"] == "Forbid"
    assert 0 < spec["startingDeadlineSeconds"] <= 6 * 3600
    assert spec["suspend"] is True  # one scheduler per deployment: Airflow runs the night by default
    assert spec["workflowSpec"] == {"workflowTemplateRef": {"name": "nightly"}}
    assert documents["nightly.yaml"]["metadata"]["name"] == "nightly"


def test_nightly_runs_one_step_per_job_for_the_nights_date(documents):
    from auralink.jobs import get_job, graph

    doc = documents["nightly.yaml"]
    templates = templates_of(doc)
    params = {p["name"]: p.get("value") for p in doc["spec"]["arguments"]["parameters"]}
    assert params["date"] == ""  # empty: the day before the workflow's creation (the cron's scheduled time)
    tasks = {t["name"]: t for t in templates["main"]["dag"]["tasks"]}
    assert set(tasks) - {"record-start"} == {j.name.replace("_", "-") for j in graph.jobs_of("nightly")}
    for name, task in tasks.items():
        if name == "record-start":
            continue
        job = get_job(name.replace("-", "_"))
        tmpl = templates[task["template"]]
        if job.fan_out in ("recording_batches", "summary_workers"):  # select, then one pod per batch or worker
            assert "dag" in tmpl, name
            continue
        args = tmpl["container"]["args"]
        assert args[:3] == ["jobs", "run", job.name]
        assert args[args.index("--date") + 1] == "{{workflow.parameters.date}}"
        assert args[args.index("--scheduled-time") + 1] == "{{workflow.creationTimestamp}}"
        assert tmpl["retryStrategy"]["limit"] == str(job.retries) and tmpl["timeout"] == f"{job.timeout_minutes}m"
        for param in job.parameters():  # every job parameter comes from a workflow parameter of its own
            flag = f"{param}={{{{workflow.parameters.{name}-{param.replace('_', '-')}}}}}"
            assert flag in args, (name, flag)
        env = {e["name"] for e in tmpl["container"]["env"]}
        assert ("AURALINK_SECRET_KEY" in env) == ("secret_key" in job.secrets), name
        assert ("OPENAI_API_KEY" in env) == ("llm" in job.secrets), name
    assert templates["transcribe-recordings"]["parallelism"] == 5
    assert "synchronization" in templates["summarize-worker"]
