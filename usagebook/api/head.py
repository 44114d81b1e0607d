"""HEAD on every GET endpoint: answered as the GET would be, without its body.

Starlette's plain routes answer HEAD themselves, FastAPI's do not (405). Rather than declare
HEAD on each route, the request is served as a GET and the body is dropped on its way out, so
status and headers (Content-Length, Content-Type, pagination) are exactly the GET's.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_NO_BODY: Message = {"type": "http.response.body", "body": b"", "more_body": False}
# What routing writes into the scope it serves; copied back so the access log and metrics name
# the route of a HEAD request too.
_ROUTING_KEYS = ("route", "endpoint", "path_params")


class HeadAsGet:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            if message["type"] != "http.response.body":
                await send(message)
            elif not message.get("more_body", False):
                await send(_NO_BODY)

        # A copy: the server's own scope must still say HEAD (it then sends no body either).
        as_get = {**scope, "method": "GET"}
        try:
            await self.app(as_get, receive, without_body)
        finally:
            scope.update({key: as_get[key] for key in _ROUTING_KEYS if key in as_get})
