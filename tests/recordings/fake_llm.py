"""A local OpenAI-compatible chat-completions server for tests (127.0.0.1, ephemeral port).

What it does depends on a scenario word in the transcript, so one job run covers every case:
``success``, ``ratelimited`` (429 once, then success), ``broken`` (500 always), ``slow`` (answers after
the client's timeout), ``garbled`` (200 with content that is not JSON), ``badbody`` (200 with a body that
is not JSON), ``badsentiment`` (valid JSON, invalid sentiment).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

SCENARIOS = ("success", "ratelimited", "broken", "slow", "garbled", "badbody", "badsentiment")
GOOD_REPLY = {"summary": "The caller asked about the budget report.", "action_items": ["Send the report"],
              "sentiment": "positive"}


class FakeLLM:
    def __init__(self, slow_seconds: float = 2.0):
        self.requests: list[dict] = []
        self.hits: Counter[str] = Counter()
        self.slow_seconds = slow_seconds
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def _send(self, status: int, body: bytes, headers: dict | None = None):
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                payload = json.loads(self.rfile.read(length))
                owner.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), **payload})
                text = payload["messages"][-1]["content"]
                scenario = next((s for s in SCENARIOS if s in text.split()), "success")
                owner.hits[scenario] += 1
                fast_retry = {"retry-after-ms": "10"}
                if scenario == "ratelimited" and owner.hits[scenario] == 1:
                    return self._send(429, b'{"error": {"message": "slow down"}}', fast_retry)
                if scenario == "broken":
                    return self._send(500, b'{"error": {"message": "boom"}}', fast_retry)
                if scenario == "slow":
                    time.sleep(owner.slow_seconds)
                if scenario == "badbody":
                    return self._send(200, b"{this is not json")
                content = {"garbled": "Sure! Here is your summary: the call went well.",
                           "badsentiment": json.dumps({**GOOD_REPLY, "sentiment": "ecstatic"})}.get(
                    scenario, "```json\n" + json.dumps(GOOD_REPLY) + "\n```")
                body = {"id": "cmpl-1", "object": "chat.completion", "created": 0, "model": payload["model"],
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": content}}],
                        "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150}}
                return self._send(200, json.dumps(body).encode())

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
