"""What the fake HTTP peers have in common (the OpenAI-compatible upstream, the front of the
ledger): an ASGI base that reads a request's body whole before handling it, one way to answer,
and uvicorn in a thread of the test process on a free port."""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn

from tests.support.servers import free_port

Scope = dict[str, Any]


class Peer:
    """An ASGI app that hands `handle` each HTTP request with its body read; other scopes
    (lifespan) are ignored."""

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await self.handle(scope, body, receive, send)

    async def handle(self, scope: Scope, body: bytes, receive: Any, send: Any) -> None:
        raise NotImplementedError


async def answer(send: Any, status: int, body: bytes, *,
                 content_type: bytes = b"application/json",
                 headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type), *headers]})
    await send({"type": "http.response.body", "body": body})


class ThreadedServer:
    """An ASGI app under uvicorn in a thread of the test process, on a free port."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the fake peer did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
