"""Releasing the hold of a request that records nothing: the upstream failed (no connection, an
error status, a timeout, a stream broken off before any token) or the customer left before any
token reached them.

The release is first committed to the durable queue, so that it is not lost while the ledger is
away (the sender retries it), then tried at once, so that when the customer reads the error
the key's limit is already free again: a customer retrying at once is not refused for the hold
of the request that failed. The direct try is bounded; a slow ledger leaves it to the sender.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3

from usagebook.gateway.ledger_client import LedgerClient, LedgerUnreachable
from usagebook.gateway.queue import UsageQueue

log = logging.getLogger("usagebook.gateway")
DIRECT_TRY_SECONDS = 2.0


class Releaser:
    def __init__(self, queue: UsageQueue, ledger: LedgerClient) -> None:
        self._queue = queue
        self._ledger = ledger

    async def release(self, hold_id: str) -> None:
        try:
            row_id: int | None = await self._queue.put_release(hold_id)
        except (sqlite3.Error, OSError):  # e.g. a full disk: the direct try is all there is
            log.exception("the usage queue cannot keep the release of hold %s", hold_id)
            row_id = None
        try:
            released = await asyncio.wait_for(self._ledger.release(hold_id), DIRECT_TRY_SECONDS)
        except (LedgerUnreachable, TimeoutError) as exc:
            log.warning("hold %s not released yet (%s): queued for the sender", hold_id,
                        str(exc) or type(exc).__name__)
            return
        if released and row_id is not None:
            await self._queue.remove_releases([row_id])
