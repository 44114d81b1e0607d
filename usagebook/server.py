"""The HTTP server `usagebook serve` ships: uvicorn with its httptools parser, guarded against
clients that would hold a connection or memory without ever making a request.

uvicorn alone has no limit on the size of a request head (httptools buffers a header however
long it grows) and no time limit on reading one (its keep-alive timer is reset by every byte,
so a client sending one byte every few seconds keeps a connection forever). `GuardedProtocol`
adds both, per connection:

- a request head (request line and headers) over `MAX_HEAD_BYTES` (16 KiB) gets
  `431 {"error": ...}` (the contract's StandardError, not uvicorn's plain-text 400) and the
  connection is closed. Bytes are counted as they arrive, before the parser buffers them, so
  memory stays flat however many megabytes of headers a client sends;
- a request must arrive whole (head and body) within `REQUEST_READ_SECONDS` (20 s) of the
  moment the server started waiting for it, else the connection is closed. The app's own
  work and the response are not limited by this.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEAD_BYTES = 16 * 1024
REQUEST_READ_SECONDS = 20.0
_TOO_LARGE_BODY = b'{"error":"Request headers too large (at most 16 KiB)"}'
_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: application/json\r\n"
    b"content-length: " + str(len(_TOO_LARGE_BODY)).encode() + b"\r\n"
    b"connection: close\r\n\r\n" + _TOO_LARGE_BODY
)


class _HeadTooLarge(Exception):
    pass


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a head size limit and a request read deadline."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reading_head = True
        self._head_bytes = 0  # received since the head began, counted before parsing
        self._read_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_request()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._reading_head:
            self._head_bytes += len(data)
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:  # as uvicorn does
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        except (httptools.HttpParserError, _HeadTooLarge) as exc:
            if isinstance(exc.__context__, _HeadTooLarge) or isinstance(exc, _HeadTooLarge):
                self._refuse_head()
            else:
                self.send_400_response("Invalid HTTP request received.")
            return
        if self._reading_head and self._head_bytes > MAX_HEAD_BYTES:
            self._refuse_head()  # still no end of the head in sight

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        if self._head_bytes > MAX_HEAD_BYTES and self._head_size() > MAX_HEAD_BYTES:
            raise _HeadTooLarge

    def on_headers_complete(self) -> None:
        if self._head_size() > MAX_HEAD_BYTES:
            raise _HeadTooLarge  # stops the parser before the app is called
        self._reading_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._stop_deadline()  # the whole request is in; the app's time is its own
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._await_request()

    def _await_request(self) -> None:
        self._reading_head, self._head_bytes = True, 0
        self._stop_deadline()
        self._read_deadline = self.loop.call_later(REQUEST_READ_SECONDS, self._too_slow)

    def _head_size(self) -> int:
        return len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)

    def _stop_deadline(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None

    def _too_slow(self) -> None:
        self._read_deadline = None
        if not self.transport.is_closing():
            self.transport.close()  # the app, if it started, sees a disconnect

    def _refuse_head(self) -> None:
        if not self.transport.is_closing():
            self.transport.write(_TOO_LARGE)
            self.transport.close()


def server_options() -> dict[str, Any]:
    """uvicorn options of `usagebook serve`."""
    return {"http": GuardedProtocol}
