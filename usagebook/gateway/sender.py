"""Sends the queue's records to the ledger until it acknowledges them.

Runs beside the proxy for the gateway's whole life; answers never wait for it. A record leaves
the queue only on the ledger's 200 (recorded, duplicate or conflict: all mean the ledger holds
the request's entries, and a retry after a lost answer is a duplicate, never a second charge).
A record the ledger refuses for good (a 400 naming it) is moved to the queue's `dead` table
and logged; the rest of its batch is sent again. Without an answer, it waits and retries,
backing off from 0.2 s to 30 s.

Holds queued for release (requests that recorded nothing) are released the same way: each
leaves the queue once the ledger no longer counts it. A record that makes no event (zero
tokens) leaves the queue with its hold queued for release, since nothing would settle it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import replace
from typing import Any

from usagebook.gateway.ledger_client import LedgerClient, LedgerUnreachable, problem_paths
from usagebook.gateway.queue import UsageQueue
from usagebook.gateway.records import UsageRecord, cache_read_sku

log = logging.getLogger("usagebook.gateway")
BATCH_RECORDS = 300  # at most 3 events each: within the ledger's 1,000 events a request
UNPRICED_FOR_SECONDS = 300.0  # then a cache-read SKU is tried again (a price may have come)
IDLE_CHECK_SECONDS = 5.0


class UsageSender:
    def __init__(self, queue: UsageQueue, ledger: LedgerClient) -> None:
        self._queue = queue
        self._ledger = ledger
        self._cache_read_unpriced: dict[str, float] = {}  # model -> when the ledger said so

    async def run(self) -> None:
        backoff = 0.2
        while True:
            self._queue.added.clear()
            progress = await self.send_batch()
            released = await self.send_releases()
            if progress is None or released is None:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            backoff = 0.2
            if progress == 0 and released == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._queue.added.wait(), IDLE_CHECK_SECONDS)

    async def send_batch(self) -> int | None:
        """Sends the oldest records once: how many left the queue, None when the ledger could
        not take them (unreachable, or refusing the operator token)."""
        rows = await self._queue.take(BATCH_RECORDS)
        if not rows:
            return 0
        events: list[dict[str, Any]] = []
        owners: list[int] = []  # index into rows, per event
        unsettled: list[str] = []  # holds of records that make no event
        for index, (_, record) in enumerate(rows):
            made = record.events(self._cache_read_priced(record.model))
            events += made
            owners += [index] * len(made)
            if not made and record.hold_id:
                unsettled.append(record.hold_id)
        if not events:  # nothing billable (zero tokens): nothing to send
            await self._queue.remove([row_id for row_id, _ in rows], release=unsettled)
            return len(rows)
        try:
            answer = await self._ledger.record(events)
        except LedgerUnreachable as exc:
            log.warning("recording deferred, %d records queued: %s", len(rows), exc)
            return None
        if answer.status == 200:
            self._log_conflicts(answer.body, events)
            await self._queue.remove([row_id for row_id, _ in rows], release=unsettled)
            return len(rows)
        if answer.status == 400:
            return await self._refused(rows, events, owners, answer.body)
        log.error("recording refused with %s: %s", answer.status, str(answer.body)[:500])
        return None

    async def send_releases(self) -> int | None:
        """Releases the oldest queued holds once: how many left the queue, None when the
        ledger could not release them (unreachable, or refusing the operator token)."""
        done: list[int] = []
        try:
            for row_id, hold_id in await self._queue.take_releases(BATCH_RECORDS):
                if not await self._ledger.release(hold_id):
                    return None
                done.append(row_id)
        except LedgerUnreachable as exc:
            log.warning("hold releases deferred: %s", exc)
            return None
        finally:
            if done:
                await self._queue.remove_releases(done)
        return len(done)

    async def _refused(self, rows: list[tuple[int, UsageRecord]], events: list[dict[str, Any]],
                       owners: list[int], body: Any) -> int | None:
        """A 400 names the events it refuses and nothing of the batch was written: learn from
        it, or bury what cannot be recorded, then the batch goes again (1 or more: go on)."""
        named: dict[int, list[str]] = {}
        for path in problem_paths(body):
            parts = path.split(".")
            if len(parts) >= 3 and parts[0] == "events" and parts[1].isdigit():
                position = int(parts[1])
                if position < len(events):
                    named.setdefault(position, []).append(parts[2])
        if not named:
            log.error("recording refused, naming no event: %s", str(body)[:500])
            return None
        buried = 0
        for position, fields in named.items():
            row_id, record = rows[owners[position]]
            if fields == ["sku"] and events[position]["sku"] == cache_read_sku(record.model):
                self._cache_read_unpriced[record.model] = time.monotonic()
            elif fields == ["holdId"]:  # a hold the ledger no longer knows: record without it
                await self._queue.replace(row_id, _without_hold(record))
            else:
                reason = f"{', '.join(fields)} refused: {str(body)[:300]}"
                log.error("usage of %s refused by the ledger for good (%s)",
                          record.request_id, reason)
                await self._queue.bury(row_id, reason)
                buried += 1
        return max(buried, 1)

    def _cache_read_priced(self, model: str) -> bool:
        learned = self._cache_read_unpriced.get(model)
        return learned is None or time.monotonic() - learned > UNPRICED_FOR_SECONDS

    @staticmethod
    def _log_conflicts(body: Any, events: list[dict[str, Any]]) -> None:
        results = body.get("results") if isinstance(body, dict) else None
        for result in results if isinstance(results, list) else []:
            if isinstance(result, dict) and result.get("status") == "conflict":
                event = events[result.get("index", 0)]
                log.warning("ledger kept an earlier, different entry for %s %s",
                            event["requestId"], event["sku"])


def _without_hold(record: UsageRecord) -> UsageRecord:
    return replace(record, hold_id=None)
