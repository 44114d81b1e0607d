"""Forwarding an admitted request to the upstream and metering its answer.

Guarantees, for both plain and streamed answers:
- the customer's key never reaches the upstream (it gets `USAGEBOOK_UPSTREAM_API_KEY`, if set);
- an upstream error status is passed through as it came and nothing is charged: the hold is
  released before the answer goes out (`releases`), as it is for a customer who leaves a stream
  before any token reached them, and for any request that ends without its usage queued;
- a stream is passed on byte for byte as the upstream's chunks arrive (`sse`);
- the usage is in the durable queue before the answer completes (a plain answer is sent after
  the queue's fsync; the bytes that complete a stream's `[DONE]`, and its end, after it), so an
  answer the customer has whole is never lost to a crash;
- a customer who leaves mid-stream cancels the upstream request and is charged for what was
  delivered, once (the queue keeps one record per gateway request id).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from usagebook.gateway.admission import BILLING_UNAVAILABLE, Admitted, Ticket
from usagebook.gateway.asgi import (
    JSON_TYPE,
    Receive,
    Send,
    respond,
    respond_error,
    wait_for_disconnect,
)
from usagebook.gateway.queue import UsageQueue
from usagebook.gateway.records import UsageRecord
from usagebook.gateway.releases import Releaser
from usagebook.gateway.sse import StreamTally
from usagebook.gateway.usage import Usage, counted_answer_usage, prompt_tokens_guess, reported_usage
from usagebook.timeutil import format_ms

log = logging.getLogger("usagebook.gateway")
REQUEST_ID_HEADER = b"x-usagebook-request-id"
# Upstream headers worth passing on; hop-by-hop and length headers are the server's business.
PASSED_HEADERS = {b"content-type", b"cache-control", b"openai-processing-ms", b"x-request-id"}


@dataclass
class Exchange:
    """One admitted request on its way: what to send upstream, and what to record."""

    ticket: Ticket
    admitted: Admitted
    path: str
    started: float = 0.0
    closed: bool = False  # its usage is queued, or its hold released: nothing is left to do

    def record(self, usage: Usage, upstream_id: str | None) -> UsageRecord:
        return UsageRecord.of(
            usage, request_id=self.ticket.request_id, model=self.ticket.model,
            kind=self.ticket.kind, api_key_id=self.admitted.api_key_id,
            hold_id=self.admitted.hold_id, upstream_id=upstream_id,
            execution_ms=int((time.monotonic() - self.started) * 1000),
            timestamp=format_ms(int(time.time() * 1000)))


class UpstreamFailed(Exception):
    pass


class Forwarder:
    def __init__(self, upstream: httpx.AsyncClient, queue: UsageQueue, releaser: Releaser,
                 upstream_api_key: str | None) -> None:
        self._upstream = upstream
        self._queue = queue
        self._releaser = releaser
        self.headers = {"Content-Type": "application/json"}
        if upstream_api_key:
            self.headers["Authorization"] = f"Bearer {upstream_api_key}"

    async def _open(self, exchange: Exchange, body: dict[str, Any]) -> httpx.Response:
        request = self._upstream.build_request(
            "POST", exchange.path, content=orjson.dumps(body), headers=self.headers)
        exchange.started = time.monotonic()
        try:
            return await self._upstream.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise UpstreamFailed(f"{type(exc).__name__}: {exc}") from exc

    async def plain(self, exchange: Exchange, send: Send) -> None:
        response = await self._open(exchange, exchange.ticket.body)
        try:
            raw = await response.aread()
        except httpx.HTTPError as exc:
            raise UpstreamFailed(f"{type(exc).__name__}: {exc}") from exc
        finally:
            await response.aclose()
        headers = _passed(response, exchange)
        if response.status_code >= 400:  # passed through, charging nothing
            await self.release(exchange)
            await respond(send, response.status_code, raw, headers)
            return
        try:
            answer: Any = orjson.loads(raw)
        except orjson.JSONDecodeError:
            answer = None
        usage = reported_usage(answer) or counted_answer_usage(
            exchange.ticket.kind, exchange.ticket.body, answer)
        upstream_id = answer.get("id") if isinstance(answer, dict) else None
        try:
            await self._put(exchange, exchange.record(usage, upstream_id if isinstance(
                upstream_id, str) else None))
        except (sqlite3.Error, OSError):  # e.g. a full disk: never serve what cannot be billed
            log.exception("the usage queue cannot be written; %s refused",
                          exchange.ticket.request_id)
            await self.release(exchange)
            await respond_error(send, 503, BILLING_UNAVAILABLE)
            return
        await respond(send, response.status_code, raw, headers)

    async def stream(self, exchange: Exchange, receive: Receive, send: Send) -> None:
        body = dict(exchange.ticket.body)
        options = body.get("stream_options")
        options = dict(options) if isinstance(options, dict) else {}
        tally = StreamTally(exchange.ticket.kind, relay_usage_chunk=bool(
            options.get("include_usage")))
        body["stream_options"] = {**options, "include_usage": True}
        response = await self._open(exchange, body)
        try:
            if response.status_code >= 400:
                raw = await response.aread()
                await self.release(exchange)
                await respond(send, response.status_code, raw, _passed(response, exchange))
                return
            await send({"type": "http.response.start", "status": response.status_code,
                        "headers": _passed(response, exchange)})
            await self._relay_until_done(exchange, response, tally, receive, send)
        finally:
            await response.aclose()  # closes the connection: cancels the upstream's work

    async def _relay_until_done(self, exchange: Exchange, response: httpx.Response,
                                tally: StreamTally, receive: Receive, send: Send) -> None:
        recorded = asyncio.Event()
        relay = asyncio.create_task(self._relay(exchange, response, tally, send, recorded))
        left = asyncio.create_task(wait_for_disconnect(receive))
        await asyncio.wait({relay, left}, return_when=asyncio.FIRST_COMPLETED)
        for task in (relay, left):
            task.cancel()
        outcome = (await asyncio.gather(relay, left, return_exceptions=True))[0]
        if isinstance(outcome, Exception) and not isinstance(outcome, UpstreamFailed):
            raise outcome
        if isinstance(outcome, UpstreamFailed):
            log.warning("upstream stream broke off: %s; charging what was delivered", outcome)
        if recorded.is_set():
            return
        # The customer left, or the upstream broke off: what was delivered is charged.
        if tally.reported is None and tally.content_chunks == 0:
            await self.release(exchange)  # no token reached the customer
        else:
            await self._put_stream(exchange, tally)

    async def _relay(self, exchange: Exchange, response: httpx.Response, tally: StreamTally,
                     send: Send, recorded: asyncio.Event) -> None:
        try:
            async for chunk in response.aiter_raw():  # each chunk as the socket gives it
                for passage, completes_done in tally.feed(chunk):
                    if completes_done and not recorded.is_set():
                        await self._put_stream(exchange, tally)
                        recorded.set()
                    await send({"type": "http.response.body", "body": passage,
                                "more_body": True})
        except httpx.HTTPError as exc:
            raise UpstreamFailed(f"{type(exc).__name__}: {exc}") from exc
        if not recorded.is_set():
            await self._put_stream(exchange, tally)
            recorded.set()
        await send({"type": "http.response.body", "body": tally.rest(), "more_body": False})

    async def _put_stream(self, exchange: Exchange, tally: StreamTally) -> None:
        guess = prompt_tokens_guess(exchange.ticket.kind, exchange.ticket.body)
        await self._put(exchange, exchange.record(tally.usage(guess), tally.upstream_id))

    async def _put(self, exchange: Exchange, record: UsageRecord) -> None:
        await self._queue.put(record)
        exchange.closed = True

    async def release(self, exchange: Exchange) -> None:
        """The request records nothing: its hold is released (once; none under --fail-open)."""
        if exchange.closed:
            return
        exchange.closed = True
        if exchange.admitted.hold_id is not None:
            await self._releaser.release(exchange.admitted.hold_id)


def _passed(response: httpx.Response, exchange: Exchange) -> list[tuple[bytes, bytes]]:
    headers = [(k, v) for k, v in response.headers.raw if k.lower() in PASSED_HEADERS]
    if not any(k.lower() == b"content-type" for k, _ in headers):
        headers.append(JSON_TYPE)
    headers.append((REQUEST_ID_HEADER, exchange.ticket.request_id.encode()))
    return headers
