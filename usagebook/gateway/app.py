"""The gateway's ASGI application: `create_gateway_app(config)`.

Routes: `POST /v1/chat/completions`, `/v1/completions`, `/v1/embeddings` (metered),
`GET /v1/models` (passed through, not billed), `GET /healthz`. The lifespan opens the
upstream and ledger clients and the durable queue, and runs the sender that records queued
usage; run it under any ASGI server that runs lifespans (uvicorn does).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from typing import Any

import httpx
import orjson

from usagebook.gateway.admission import Admission, Answer, Ticket
from usagebook.gateway.asgi import (
    BodyTooLarge,
    Message,
    Receive,
    Scope,
    Send,
    bearer,
    read_body,
    respond,
    respond_error,
)
from usagebook.gateway.config import GatewayConfig
from usagebook.gateway.ledger_client import LedgerClient
from usagebook.gateway.proxy import REQUEST_ID_HEADER, Exchange, Forwarder, UpstreamFailed
from usagebook.gateway.queue import UsageQueue
from usagebook.gateway.releases import Releaser
from usagebook.gateway.sender import UsageSender
from usagebook.gateway.usage import Kind
from usagebook.logs import request_id_var

log = logging.getLogger("usagebook.gateway")
access = logging.getLogger("usagebook.gateway.access")
METERED = {"/v1/chat/completions": Kind.CHAT, "/v1/completions": Kind.COMPLETION,
           "/v1/embeddings": Kind.EMBEDDING}
MAX_BODY_BYTES = 16 * 1024 * 1024
INVALID_KEY = "Invalid API key"


def new_request_id() -> str:
    return "gw_" + secrets.token_urlsafe(18)


class Gateway:
    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.queue = UsageQueue(config.queue_path)
        self._started: list[Any] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def start(self) -> None:
        config = self.config
        self.upstream = httpx.AsyncClient(
            base_url=config.upstream_url.rstrip("/"),
            timeout=httpx.Timeout(config.upstream_timeout_seconds, connect=10.0),
            limits=httpx.Limits(max_connections=1000, max_keepalive_connections=100))
        self.ledger = LedgerClient(config.ledger_url, config.operator_token,
                                   config.ledger_timeout_seconds)
        await self.queue.open()
        self.admission = Admission(self.ledger, config)
        self.forwarder = Forwarder(self.upstream, self.queue, Releaser(self.queue, self.ledger),
                                   config.upstream_api_key)
        self.sender = UsageSender(self.queue, self.ledger)
        self._sending = asyncio.create_task(self.sender.run())

    async def stop(self) -> None:
        self._sending.cancel()
        with contextlib.suppress(BaseException):
            await self._sending
        await self.upstream.aclose()
        await self.ledger.aclose()
        await self.queue.close()

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Routes one request, then logs one access line (as `usagebook serve` does), with
        the gateway's request id when one was made; never a key."""
        started, status = time.perf_counter(), 0

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        token = request_id_var.set(None)
        try:
            await self._route(scope, receive, sending)
        finally:
            access.info("request", extra={
                "method": scope["method"], "path": scope["path"], "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 3)})
            request_id_var.reset(token)

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        path, method = scope["path"], scope["method"]
        if path in METERED:
            if method != "POST":
                await respond_error(send, 405, "Method not allowed")
                return
            await self._metered(METERED[path], scope, receive, send)
        elif path == "/v1/models":
            await self._models(scope, send)
        elif path == "/healthz":
            await respond(send, 200, b'{"status":"ok"}', [(b"content-type", b"application/json")])
        else:
            await respond_error(send, 404, "Not found")

    async def _metered(self, kind: str, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            raw = await read_body(receive, MAX_BODY_BYTES)
        except BodyTooLarge:
            await respond_error(send, 413, "Request body too large")
            return
        if raw is None:
            return  # the client left before sending its request
        ticket = self._ticket(kind, scope, raw)
        if isinstance(ticket, Answer):
            await respond(send, ticket.status, ticket.body, ticket.headers)
            return
        admitted = await self.admission.admit(ticket)
        if isinstance(admitted, Answer):  # refused: the id still names the attempt
            await respond(send, admitted.status, admitted.body,
                          [*admitted.headers, (REQUEST_ID_HEADER, ticket.request_id.encode())])
            return
        exchange = Exchange(ticket, admitted, scope["path"])
        try:
            if ticket.body.get("stream") is True:
                await self.forwarder.stream(exchange, receive, send)
            else:
                await self.forwarder.plain(exchange, send)
        except UpstreamFailed as exc:
            log.warning("upstream unreachable for %s: %s", ticket.request_id, exc)
            await self.forwarder.release(exchange)
            await respond_error(send, 502, "Upstream is unavailable")
        finally:
            if not exchange.closed:  # ended some other way (a bug, a shutdown): nothing recorded
                await self.forwarder.release(exchange)

    def _ticket(self, kind: str, scope: Scope, raw: bytes) -> Ticket | Answer:
        api_key = bearer(scope)
        if api_key is None:
            return Answer.error(401, INVALID_KEY)
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return Answer.error(400, "The request body must be a JSON object")
        if not isinstance(body, dict):
            return Answer.error(400, "The request body must be a JSON object")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return Answer.error(400, "model is required")
        client = scope.get("client")
        request_id = new_request_id()
        request_id_var.set(request_id)  # on every log line of this request, access line included
        return Ticket(kind, model, body, api_key, request_id, client[0] if client else None)

    async def _models(self, scope: Scope, send: Send) -> None:
        """The upstream's model list, for any caller with a key: it costs nothing and names
        nothing secret; admission (and so the key's check) is per metered request."""
        if bearer(scope) is None:
            await respond_error(send, 401, INVALID_KEY)
            return
        try:
            response = await self.upstream.get("/v1/models", headers=self.forwarder.headers)
        except httpx.HTTPError as exc:
            log.warning("upstream unreachable for /v1/models: %s", exc)
            await respond_error(send, 502, "Upstream is unavailable")
            return
        content_type = response.headers.get("content-type", "application/json")
        await respond(send, response.status_code, response.content,
                      [(b"content-type", content_type.encode("latin-1"))])


def create_gateway_app(config: GatewayConfig) -> Gateway:
    """The gateway as an ASGI app, e.g. for `uvicorn --factory`:
    `create_gateway_app(GatewayConfig.from_env(upstream_url=..., ledger_url=...))`."""
    return Gateway(config)
