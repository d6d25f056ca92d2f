"""Local receivers on 127.0.0.1 for what the platform sends out: OpenLineage events (HTTP), OTLP metrics
(HTTP, protobuf), webhook alerts (HTTP) and e-mail (a real SMTP server, aiosmtpd). Each runs in a thread
of the test process and keeps what it received."""

from __future__ import annotations

import contextlib
import email
import email.policy
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class HttpReceiver:
    url: str
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)

    def json_bodies(self) -> list[Any]:
        return [json.loads(body) for _, _, body in self.requests if body]


@contextlib.contextmanager
def http_receiver(status: int = 200) -> Iterator[HttpReceiver]:
    """An HTTP server that answers every POST with ``status`` and records path, headers and body."""
    received: list[tuple[str, dict[str, str], bytes]] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                received.append((self.path, dict(self.headers), body))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield HttpReceiver(f"http://127.0.0.1:{server.server_address[1]}", received)
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class SmtpReceiver:
    host: str
    port: int
    messages: list[email.message.EmailMessage] = field(default_factory=list)


def message_text(message: email.message.EmailMessage) -> str:
    """Headers and every text part of a message, decoded (bodies usually travel base64-encoded)."""
    parts = [f"{k}: {v}" for k, v in message.items()]
    for part in message.walk():
        if part.get_content_maintype() == "text":
            parts.append(part.get_content())
    return "\n".join(parts)


@contextlib.contextmanager
def smtp_receiver() -> Iterator[SmtpReceiver]:
    """A real SMTP server (aiosmtpd) on a free port of 127.0.0.1; parsed messages in ``messages``."""
    import socket

    from aiosmtpd.controller import Controller

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    receiver = SmtpReceiver("127.0.0.1", port)

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            receiver.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield receiver
    finally:
        controller.stop()
