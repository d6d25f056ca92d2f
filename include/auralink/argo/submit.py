"""Submit a WorkflowTemplate or CronWorkflow to an Argo Server through Hera's WorkflowsService.

Configuration comes from the environment, like the ``argo`` CLI: ARGO_SERVER_URL (https://host:2746),
ARGO_TOKEN (a service-account bearer token, with or without the ``Bearer`` prefix), ARGO_NAMESPACE, and
ARGO_INSECURE_SKIP_VERIFY=true for a self-signed server certificate. The token is never logged or printed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from auralink import config

log = logging.getLogger(__name__)

# What `argo submit --from KIND/NAME` accepts, mapped to the Kind the server's submit API takes.
RESOURCE_KINDS = {
    "workflowtemplate": "WorkflowTemplate", "workflowtemplates": "WorkflowTemplate", "wftmpl": "WorkflowTemplate",
    "cronworkflow": "CronWorkflow", "cronworkflows": "CronWorkflow", "cronwf": "CronWorkflow", "cwf": "CronWorkflow",
    "clusterworkflowtemplate": "ClusterWorkflowTemplate", "clusterworkflowtemplates": "ClusterWorkflowTemplate",
    "cwft": "ClusterWorkflowTemplate",
}


class SubmitError(RuntimeError):
    """The server could not be reached or refused the submission (message never carries the token)."""


@dataclass(frozen=True)
class ServerConfig:
    url: str
    namespace: str
    token: str | None
    verify_ssl: bool

    @classmethod
    def from_env(cls, url: str | None = None, namespace: str | None = None) -> ServerConfig:
        server = url or config.env("ARGO_SERVER_URL")
        if not server:
            raise SubmitError("set ARGO_SERVER_URL to the Argo Server, e.g. https://argo.example.com:2746")
        if not server.startswith(("http://", "https://")):
            raise SubmitError(f"ARGO_SERVER_URL must start with http:// or https://, got {server!r}")
        skip_verify = (config.env("ARGO_INSECURE_SKIP_VERIFY") or "").lower() in ("1", "true", "yes")
        return cls(url=server.rstrip("/") + "/", namespace=namespace or config.env("ARGO_NAMESPACE") or "default",
                   token=config.env("ARGO_TOKEN"), verify_ssl=not skip_verify)

    def __repr__(self) -> str:  # dataclass repr would show the token
        return f"ServerConfig(url={self.url!r}, namespace={self.namespace!r}, token={'***' if self.token else None})"


def parse_source(source: str) -> tuple[str, str]:
    """``name`` (a WorkflowTemplate) or ``kind/name`` as in ``argo submit --from`` -> (Kind, name)."""
    kind, sep, name = source.partition("/")
    if not sep:
        kind, name = "workflowtemplate", source
    resource_kind = RESOURCE_KINDS.get(kind.lower())
    if resource_kind is None:
        raise ValueError(f"unknown kind {kind!r} in {source!r}; use workflowtemplate/NAME, cronwf/NAME "
                         "or clusterworkflowtemplate/NAME")
    if not name or "/" in name:
        raise ValueError(f"not a resource name: {source!r}")
    return resource_kind, name


def submit(source: str, parameters: dict[str, str] | None = None, *, server: ServerConfig | None = None,
           labels: dict[str, str] | None = None) -> dict[str, Any]:
    """Submit a workflow from a template; returns name, uid, namespace and phase of the new Workflow."""
    import requests
    from hera.exceptions import HeraException
    from hera.workflows import WorkflowsService
    from hera.workflows.models import SubmitOpts, WorkflowSubmitRequest

    resource_kind, name = parse_source(source)
    server = server or ServerConfig.from_env()
    opts = SubmitOpts(
        parameters=[f"{k}={v}" for k, v in (parameters or {}).items()] or None,
        labels=",".join(f"{k}={v}" for k, v in (labels or {}).items()) or None,
    )
    request = WorkflowSubmitRequest(namespace=server.namespace, resource_kind=resource_kind, resource_name=name,
                                    submit_options=opts)
    log.info("submitting %s/%s to %s (namespace %s)", resource_kind, name, server.url, server.namespace)
    service = WorkflowsService(host=server.url, token=server.token, namespace=server.namespace,
                               verify_ssl=server.verify_ssl)
    try:
        with service:
            workflow = service.submit_workflow(request, namespace=server.namespace)
    except HeraException as exc:
        raise SubmitError(f"Argo Server refused {resource_kind}/{name}: {exc}") from None
    except (KeyError, ValueError) as exc:  # an error body without "message", or a body that is not a Workflow
        raise SubmitError(f"unexpected answer from the Argo Server at {server.url}: {exc}") from None
    except requests.RequestException as exc:
        raise SubmitError(f"cannot reach the Argo Server at {server.url}: {exc.__class__.__name__}") from None
    meta = workflow.metadata
    return {
        "name": meta.name, "uid": meta.uid, "namespace": meta.namespace or server.namespace,
        "from": f"{resource_kind}/{name}", "phase": workflow.status.phase if workflow.status else None,
    }
