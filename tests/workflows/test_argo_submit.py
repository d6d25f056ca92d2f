"""Submission through Hera's WorkflowsService to a local stand-in for the Argo Server on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from auralink.cli import main

TOKEN = "v2:secret-token-never-printed"


class ArgoStandIn:
    """Records every request (method, path, headers, body) and answers with a canned status and body."""

    def __init__(self):
        self.requests: list[dict] = []
        self.status = 200
        self.body: bytes = b""
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                stand_in.requests.append({"method": "POST", "path": self.path, "headers": dict(self.headers),
                                          "body": json.loads(raw) if raw else None})
                self.send_response(stand_in.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(stand_in.body)))
                self.end_headers()
                self.wfile.write(stand_in.body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def reply(self, status: int, body: dict | str) -> None:
        self.status = status
        self.body = (json.dumps(body) if isinstance(body, dict) else body).encode()


@pytest.fixture
def argo_server(monkeypatch):
    stand_in = ArgoStandIn()
    stand_in.thread.start()
    monkeypatch.setenv("ARGO_SERVER_URL", stand_in.url)
    monkeypatch.setenv("ARGO_TOKEN", TOKEN)
    monkeypatch.setenv("ARGO_NAMESPACE", "data")
    yield stand_in
    stand_in.server.shutdown()
    stand_in.server.server_close()


def created(name: str, uid: str) -> dict:
    return {"metadata": {"name": name, "namespace": "data", "uid": uid}, "spec": {"entrypoint": "main"},
            "status": {"phase": "Pending"}}


def test_submit_a_workflow_template_with_parameters(argo_server, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    argo_server.reply(200, created("ai-batch-processing-abc12", "5f1c-uid"))
    assert main(["argo", "submit", "ai-batch-processing", "-p", "batch-size=10", "-p", "max-batches=2"]) == 0

    [request] = argo_server.requests
    assert request["method"] == "POST" and request["path"] == "/api/v1/workflows/data/submit"
    assert request["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert request["body"] == {
        "namespace": "data", "resourceKind": "WorkflowTemplate", "resourceName": "ai-batch-processing",
        "submitOptions": {"parameters": ["batch-size=10", "max-batches=2"],
                          "labels": "auralink.io/submitted-by=auralink-cli"},
    }
    out, err = capsys.readouterr()
    assert json.loads(out) == {"name": "ai-batch-processing-abc12", "uid": "5f1c-uid", "namespace": "data",
                               "from": "WorkflowTemplate/ai-batch-processing", "phase": "Pending"}
    assert TOKEN not in out + err + caplog.text


def test_submit_from_the_cron_workflow_in_another_namespace(argo_server, capsys):
    argo_server.reply(200, created("nightly-manual", "uid-9"))
    assert main(["argo", "submit", "cronwf/nightly", "--namespace", "batch"]) == 0
    [request] = argo_server.requests
    assert request["path"] == "/api/v1/workflows/batch/submit"
    assert request["body"]["resourceKind"] == "CronWorkflow" and request["body"]["resourceName"] == "nightly"
    assert "parameters" not in request["body"].get("submitOptions", {})


def test_a_token_with_its_bearer_prefix_is_sent_as_is(argo_server, monkeypatch):
    monkeypatch.setenv("ARGO_TOKEN", f"Bearer {TOKEN}")
    argo_server.reply(200, created("t-1", "u-1"))
    assert main(["argo", "submit", "workflowtemplate/transcription", "-p", "recording-id=abc"]) == 0
    assert argo_server.requests[0]["headers"]["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize("status, body, expected", [
    (403, {"code": 7, "message": "workflowtemplates.argoproj.io is forbidden"}, "is forbidden"),
    (404, {"code": 5, "message": 'workflowtemplates.argoproj.io "nope" not found'}, "not found"),
    (500, "upstream exploded", "upstream exploded"),
    (400, {"code": 3}, "unexpected answer"),
])
def test_refusals_are_one_line_errors_without_the_token(argo_server, capsys, status, body, expected):
    argo_server.reply(status, body)
    assert main(["argo", "submit", "nope"]) == 1
    out, err = capsys.readouterr()
    assert expected in err and err.count("\n") == 1
    assert TOKEN not in out + err


def test_unreachable_server_and_missing_configuration(monkeypatch, capsys):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("ARGO_SERVER_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("ARGO_TOKEN", TOKEN)
    assert main(["argo", "submit", "nightly"]) == 1
    err = capsys.readouterr().err
    assert "cannot reach the Argo Server" in err and TOKEN not in err

    monkeypatch.delenv("ARGO_SERVER_URL")
    assert main(["argo", "submit", "nightly"]) == 1
    assert "set ARGO_SERVER_URL" in capsys.readouterr().err


@pytest.mark.parametrize("source", ["pipeline/nightly", "workflowtemplate/", "a/b/c"])
def test_bad_sources_are_usage_errors(argo_server, capsys, source):
    assert main(["argo", "submit", source]) == 2
    assert argo_server.requests == []


def test_server_config_repr_hides_the_token():
    from auralink.argo.submit import ServerConfig

    cfg = ServerConfig(url="https://argo/", namespace="d", token=TOKEN, verify_ssl=True)
    assert TOKEN not in repr(cfg) and TOKEN not in str(cfg)
