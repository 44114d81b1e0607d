"""A real HTTP proxy in front of a usagebook server, for the client's tests: it counts the
recording requests and their batch sizes, and can fail them on purpose (answer 503 without
forwarding, or forward and then lose the answer) or hold them until released."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class FaultyProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.faults: list[str] = []  # per recording request, in order: "refuse" or "lose"
        self.batches: list[list[str]] = []  # request ids of each recording request seen
        self.release = threading.Event()
        self.release.set()
        self.posted = threading.Event()  # set by the first recording request
        self.lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def sizes(self) -> list[int]:
        with self.lock:
            return [len(batch) for batch in self.batches]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: object) -> None:
                pass

            def do_GET(self) -> None:
                self._forward(b"")

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                fault = None
                if self.path.startswith("/api/v1/usage/events"):
                    ids = [e["requestId"] for e in json.loads(body)["events"]]
                    with proxy.lock:
                        proxy.batches.append(ids)
                        fault = proxy.faults.pop(0) if proxy.faults else None
                    proxy.posted.set()
                    proxy.release.wait(30)
                if fault == "refuse":
                    self._answer(503, b'{"error": "try again"}')
                    return
                answer = self._forward(body, reply=fault != "lose")
                if fault == "lose" and answer is not None:  # recorded, but the answer is lost
                    self._answer(502, b'{"error": "bad gateway"}')

            def _forward(self, body: bytes, reply: bool = True) -> httpx.Response | None:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
                answer = httpx.request(self.command, proxy.upstream + self.path,
                                       headers=headers, content=body, timeout=30)
                if reply:
                    self._answer(answer.status_code, answer.content,
                                 answer.headers.get("content-type", "application/json"))
                return answer

            def _answer(self, status: int, body: bytes,
                        content_type: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler

    @contextmanager
    def running(self) -> Iterator[FaultyProxy]:
        self._thread.start()
        try:
            yield self
        finally:
            self.release.set()
            self._server.shutdown()
            self._server.server_close()
