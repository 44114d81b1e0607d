"""A real HTTP hop in front of the ledger that a test can turn against the gateway: it passes
every request on, except that recording, or releasing holds, can be made to fail (503) while
authorize still works, so that answered usage (or releases) piles up in the gateway's queue."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.asgi_peer import Peer, Scope, answer


class LedgerFront(Peer):
    def __init__(self, ledger_url: str) -> None:
        self.ledger_url = ledger_url
        self.refuse_recording = False
        self.recording_refused = 0
        self.refuse_releases = False
        self.releases_refused = 0

    async def handle(self, scope: Scope, body: bytes, receive: Any, send: Any) -> None:
        if self.refuse_recording and scope["path"].endswith("/usage/events"):
            self.recording_refused += 1
            await _answer(send, 503, b'{"error": "Recording is down (test)"}', {})
            return
        if self.refuse_releases and scope["path"].endswith("/release"):
            self.releases_refused += 1
            await _answer(send, 503, b'{"error": "Releasing is down (test)"}', {})
            return
        headers = {k.decode(): v.decode() for k, v in scope["headers"]
                   if k.lower() not in (b"host", b"content-length")}
        async with httpx.AsyncClient(base_url=self.ledger_url, timeout=30) as client:
            answer = await client.request(scope["method"], scope["path"], content=body,
                                          headers=headers)
        await _answer(send, answer.status_code, answer.content, answer.headers)


async def _answer(send: Any, status: int, body: bytes, headers: Any) -> None:
    kept = ((b"retry-after", headers["retry-after"].encode()),) if "retry-after" in headers else ()
    await answer(send, status, body, headers=kept,
                 content_type=headers.get("content-type", "application/json").encode())
