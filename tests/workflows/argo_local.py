"""A small local stand-in for the Argo controller: runs a generated workflow document step by step.

It interprets what the YAML says (DAG ``depends``, ``withParam`` fan-out, parameters, ``{{...}}``
variables, a CronWorkflow's ``workflowTemplateRef``, artifacts passed between steps, ``onExit`` with ``workflow.status``/``workflow.failures``) and
runs every container's ``command + args`` through the ``auralink`` entry point (``auralink.cli.main``,
what the container's console script calls) with the container's env, ``secretKeyRef`` resolved from the
test's secrets and ``envFrom`` from its ConfigMaps. Credentials the container does not declare are removed
from the environment while a step runs, so a step that would miss a secret in the cluster fails here too. So the tests exercise the committed YAML itself, not a retyped copy of its commands.
Retries, parallelism limits, semaphores and resources are the cluster's business and are not simulated.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_VAR = re.compile(r"\{\{\s*([^}]+?)\s*\}\}")
# What a pod only has when its spec asks for it (the test process has them all).
_CREDENTIALS = re.compile(r"DATABASE_URL|AIRFLOW_CONN_|SECRET|TOKEN|PASSWORD|API_KEY|OPENAI_")


@dataclass
class StepRun:
    template: str
    args: list[str]
    exit_code: int
    stdout: str
    stderr: str
    seconds: float = 0.0


@dataclass
class WorkflowRun:
    name: str
    uid: str
    status: str = "Running"
    steps: list[StepRun] = field(default_factory=list)

    def by_template(self, name: str) -> list[StepRun]:
        return [s for s in self.steps if s.template == name]


class StepFailed(Exception):
    def __init__(self, node: str, template: str, message: str):
        super().__init__(message)
        self.node, self.template = node, template


def substitute(text: str, scope: dict[str, str]) -> str:
    def repl(match: re.Match) -> str:
        key = match.group(1)
        if key not in scope:
            raise KeyError(f"unresolved Argo variable {{{{{key}}}}}")
        return scope[key]

    return _VAR.sub(repl, text)


class LocalArgo:
    def __init__(self, doc: dict, *, secrets: dict[tuple[str, str], str], workdir: Path,
                 parameters: dict[str, str] | None = None, name: str | None = None,
                 configmaps: dict[str, dict[str, str]] | None = None,
                 workflow_templates: dict[str, dict] | None = None, created_at: dt.datetime | None = None):
        self.kind = doc["kind"]
        self.spec = doc["spec"]["workflowSpec"] if self.kind == "CronWorkflow" else doc["spec"]
        ref = self.spec.get("workflowTemplateRef")
        if ref:  # the controller runs the referenced WorkflowTemplate's spec (the cron's own fields on top)
            template = (workflow_templates or {}).get(ref["name"])
            if template is None:
                raise AssertionError(f"workflowTemplateRef {ref['name']!r} is not installed")
            self.spec = {**template["spec"], **{k: v for k, v in self.spec.items() if k != "workflowTemplateRef"}}
        self.templates = {t["name"]: t for t in self.spec["templates"]}
        self.secrets = secrets
        self.configmaps = configmaps or {}
        self.workdir = workdir
        params = {p["name"]: p.get("value") for p in self.spec.get("arguments", {}).get("parameters", [])}
        params.update(parameters or {})
        missing = [k for k, v in params.items() if v is None]
        if missing:
            raise ValueError(f"parameters without a value: {missing} (Argo refuses the submission)")
        base = name or doc["metadata"].get("name") or doc["metadata"]["generateName"].rstrip("-")
        self.run = WorkflowRun(name=f"{base}-{uuid.uuid4().hex[:5]}", uid=str(uuid.uuid4()))
        self.globals = {
            "workflow.name": self.run.name, "workflow.uid": self.run.uid, "workflow.namespace": "test",
            "workflow.creationTimestamp": (created_at or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "workflow.parameters.json": json.dumps([{"name": k, "value": v} for k, v in params.items()]),
            **{f"workflow.parameters.{k}": v for k, v in params.items()},
        }
        self.failures: list[dict[str, str]] = []
        self._artifact_count = 0

    # --- running -------------------------------------------------------------------------------

    def execute(self) -> WorkflowRun:
        try:
            self._run_template(self.spec["entrypoint"], self.spec["entrypoint"], {}, {})
            self.run.status = "Succeeded"
        except StepFailed:
            self.run.status = "Failed"
        if self.spec.get("onExit"):
            exit_scope = {"workflow.status": self.run.status,
                          "workflow.failures": json.dumps(self.failures) if self.failures else "null"}
            with contextlib.suppress(StepFailed):
                self._run_template(self.spec["onExit"], "onExit", {}, {}, extra_globals=exit_scope)
        return self.run

    def _run_template(self, name: str, node: str, inputs: dict[str, str], artifacts: dict[str, Path],
                      extra_globals: dict[str, str] | None = None) -> dict[str, Any]:
        tmpl = self.templates[name]
        scope = {**self.globals, **(extra_globals or {}),
                 **{f"inputs.parameters.{k}": v for k, v in inputs.items()}}
        declared = [p["name"] for p in tmpl.get("inputs", {}).get("parameters", [])]
        if sorted(declared) != sorted(inputs):
            raise AssertionError(f"{node}: template {name} takes {declared}, got {sorted(inputs)}")
        if "dag" in tmpl:
            return self._run_dag(tmpl, node, scope, extra_globals)
        return self._run_container(tmpl, node, scope, artifacts)

    def _run_dag(self, tmpl: dict, node: str, scope: dict[str, str], extra_globals) -> dict[str, Any]:
        tasks = {t["name"]: t for t in tmpl["dag"]["tasks"]}
        outputs: dict[str, dict[str, Any]] = {}
        pending = list(tasks)
        while pending:
            ready = [t for t in pending
                     if all(d in outputs for d in re.findall(r"[A-Za-z0-9-]+", tasks[t].get("depends", "")))]
            assert ready, f"{node}: dependency cycle among {pending}"
            for tname in ready:
                pending.remove(tname)
                task = tasks[tname]
                task_scope = dict(scope)
                for done, out in outputs.items():
                    if "result" in out:
                        task_scope[f"tasks.{done}.outputs.result"] = out["result"]
                items = [None]
                if "withParam" in task:
                    items = json.loads(substitute(task["withParam"], task_scope))
                    assert isinstance(items, list), f"{tname}: withParam is not a JSON list"
                results = []
                for index, item in enumerate(items):
                    item_scope = dict(task_scope)
                    if item is not None:
                        item_scope["item"] = json.dumps(item) if isinstance(item, (dict, list)) else str(item)
                        if isinstance(item, dict):
                            item_scope.update({f"item.{k}": str(v) for k, v in item.items()})
                    args = {p["name"]: substitute(str(p["value"]), item_scope)
                            for p in task.get("arguments", {}).get("parameters", [])}
                    arts = {}
                    for a in task.get("arguments", {}).get("artifacts", []):
                        ref = re.fullmatch(r"\{\{tasks\.([^.]+)\.outputs\.artifacts\.([^}]+)\}\}", a["from"])
                        arts[a["name"]] = outputs[ref.group(1)]["artifacts"][ref.group(2)]
                    child = f"{node}.{tname}" + (f"({index})" if item is not None else "")
                    results.append(self._run_template(task["template"], child, args, arts, extra_globals))
                outputs[tname] = results[0] if len(results) == 1 and "withParam" not in task else {
                    "result": json.dumps([r.get("result") for r in results])}
        return {}

    def _run_container(self, tmpl: dict, node: str, scope: dict[str, str],
                       artifacts: dict[str, Path]) -> dict[str, Any]:
        container = tmpl["container"]
        assert container["command"] == ["auralink"], f"{node}: not the auralink entry point"
        # Artifacts live at their declared paths in the pod; here each gets its own file under workdir.
        paths: dict[str, str] = {}
        for a in tmpl.get("inputs", {}).get("artifacts", []):
            paths[a["path"]] = str(artifacts[a["name"]])
        out_artifacts = {}
        for a in tmpl.get("outputs", {}).get("artifacts", []):
            self._artifact_count += 1
            local = self.workdir / f"artifact-{self._artifact_count}-{a['name']}"
            paths[a["path"]] = str(local)
            out_artifacts[a["name"]] = local
        args = [paths.get(arg, arg) for arg in (substitute(a, scope) for a in container.get("args", []))]
        env = self._env(container.get("env", []), container.get("envFrom", []), node)
        step = self._invoke(tmpl["name"], args, env)
        self.run.steps.append(step)
        if step.exit_code != 0:
            message = (step.stderr.strip().splitlines() or [f"exit code {step.exit_code}"])[-1]
            self.failures.append({"displayName": node.rsplit(".", 1)[-1], "templateName": tmpl["name"],
                                  "phase": "Failed", "message": message, "podName": node, "finishedAt": ""})
            raise StepFailed(node, tmpl["name"], message)
        for a in tmpl.get("outputs", {}).get("artifacts", []):
            assert out_artifacts[a["name"]].exists(), f"{node}: output artifact {a['name']} was not written"
        return {"result": step.stdout.strip(), "artifacts": out_artifacts}

    def _env(self, spec: list[dict], env_from: list[dict], node: str) -> dict[str, str | None]:
        env: dict[str, str | None] = {k: None for k in os.environ if _CREDENTIALS.search(k)}
        for source in env_from:
            ref = source["configMapRef"]
            if ref["name"] not in self.configmaps and not ref.get("optional"):
                raise AssertionError(f"{node}: ConfigMap {ref['name']} is not there (the pod would not start)")
            env.update(self.configmaps.get(ref["name"], {}))
        for e in spec:
            if "value" in e:
                env[e["name"]] = e["value"]
                continue
            ref = e["valueFrom"]["secretKeyRef"]
            value = self.secrets.get((ref["name"], ref["key"]))
            if value is None and not ref.get("optional"):
                raise AssertionError(f"{node}: secret {ref['name']}/{ref['key']} is not there (the pod would "
                                     "not start)")
            env[e["name"]] = value  # None: an optional secret that is absent, so the variable is unset
        return env

    @staticmethod
    def _invoke(template: str, args: list[str], env: dict[str, str | None]) -> StepRun:
        import time

        from auralink.cli import main

        started = time.monotonic()
        saved = {k: os.environ.get(k) for k in env}
        out, err = io.StringIO(), io.StringIO()
        try:
            for k, v in env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    code = main(args)
                except SystemExit as exc:  # argparse usage errors
                    code = exc.code if isinstance(exc.code, int) else 2
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        return StepRun(template=template, args=args, exit_code=code, stdout=out.getvalue(), stderr=err.getvalue(),
                       seconds=time.monotonic() - started)
