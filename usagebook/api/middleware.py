"""The request middleware (pure ASGI, so it adds no task or body copy per request): a request id
on every answer, the names of ignored query parameters (`api/ignored_params.py`), the body size
limit (`Settings.max_body_bytes`: a 413 here, whatever the route), one JSON access-log line and
the HTTP metrics per request, and a 500 StandardError carrying the request id for anything that
escaped every handler.
"""

from __future__ import annotations

import itertools
import logging
import re
import secrets
import time
import uuid
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from usagebook import metrics
from usagebook.api.errors import internal_error, standard_error
from usagebook.api.ignored_params import ignored_params_header, matched_route
from usagebook.logs import request_id_var

access_log = logging.getLogger("usagebook.access")

# An incoming id is echoed into headers and logs: only short, plain ids are taken as they are.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")  # fullmatch
UNMATCHED_ROUTE = "<unmatched>"


def too_large(limit: int) -> str:
    """The 413's message: `Request body too large (at most 2 MiB)`."""
    size = next((f"{limit >> shift} {unit}" for shift, unit in ((20, "MiB"), (10, "KiB"))
                 if limit >> shift and limit % (1 << shift) == 0), f"{limit} bytes")
    return f"Request body too large (at most {size})"


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large(limit))


class RequestIds:
    """New request ids: 32 hex digits, a random prefix drawn once per process and a counter
    (uuid4 reads the OS's random source on every request: a system call on the hot path of
    the shortest requests, docs/performance.md, The read hot path)."""

    def __init__(self) -> None:
        self._prefix = secrets.token_hex(8)
        self._count = itertools.count()

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._count) & 0xFFFFFFFFFFFFFFFF:016x}"


def request_id_from(scope: Scope, new_id: RequestIds | None = None) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            candidate: str = value.decode("latin-1")
            if _SANE_REQUEST_ID.fullmatch(candidate):
                return candidate
            break
    return new_id() if new_id is not None else uuid.uuid4().hex


def route_of(scope: Scope) -> str:
    """The template of the route that served the request."""
    path = getattr(matched_route(scope), "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def _limited(receive: Receive, limit: int) -> Receive:
    """`receive`, failing with 413 once a body without a (truthful) length grows past `limit`."""
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(limit)
        return message

    return wrapped


class RequestMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self._new_id = RequestIds()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope, self._new_id)
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                added = [header]
                if ignored := ignored_params_header(scope):
                    added.append(ignored)
                message["headers"] = [*message.get("headers", ()), *added]
            await send(message)

        try:
            await self._serve(scope, receive, send_with_id, request_id)
        finally:
            self._account(scope, status, time.perf_counter() - started, request_id)
            request_id_var.reset(token)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
        declared = _declared_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await standard_error(413, too_large(self.max_body_bytes))(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, _limited(receive, self.max_body_bytes), tracking_send)
        except Exception as exc:
            if started:  # half an answer is already out: nothing better to do than drop it
                raise
            await internal_error(request_id, exc)(scope, receive, send)

    @staticmethod
    def _account(scope: Scope, status: int, seconds: float, request_id: str) -> None:
        route = route_of(scope)
        method = scope.get("method", "")
        metrics.record_request(method, route, status, seconds)
        fields: dict[str, Any] = {
            "method": method, "route": route, "path": scope.get("path", ""), "status": status,
            "duration_ms": round(seconds * 1000, 3), "request_id": request_id,
        }
        access_log.info("request", extra=fields)

