"""`Recorder` for asyncio servers: one background task instead of a thread, the same batching,
retries with the same request ids, bounded queue and back-pressure. There is no exit hook in
asyncio: await `aclose()` when the server shuts down (a FastAPI lifespan's end)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

from usagebook.client._core import RetryPolicy
from usagebook.client.aio import AsyncUsagebookClient
from usagebook.client.errors import ClientError, QueueFull, RecorderClosed, Unreachable
from usagebook.client.models import Event
from usagebook.client.recorder import TRANSIENT, OnError, RecorderStats, log, log_failure


class AsyncRecorder:
    def __init__(self, client: AsyncUsagebookClient, *, batch_size: int = 500,
                 flush_seconds: float = 1.0, max_queued: int = 10_000,
                 on_error: OnError = log_failure) -> None:
        if not 1 <= batch_size <= 1000:
            raise ValueError("batch_size must be 1..1000 (the server's limit per request)")
        self.client = client
        self.batch_size, self.flush_seconds, self.max_queued = batch_size, flush_seconds, max_queued
        self.on_error = on_error
        self.stats = RecorderStats()
        self._queue: deque[Event] = deque()
        self._pending = 0
        self._cond = asyncio.Condition()
        self._flushing = False
        self._closed = False
        self._giving_up = False
        self._worker: asyncio.Task[None] | None = None

    async def add(self, event: Event, timeout: float | None = None) -> None:
        """Queue an event; waits while the queue is full (`QueueFull` after `timeout`)."""
        self._start()
        async with self._cond:
            try:
                await asyncio.wait_for(self._cond.wait_for(self._has_room), timeout)
            except TimeoutError:
                raise QueueFull(f"{self.max_queued} events are waiting to be recorded") from None
            self._enqueue(event)
            self._cond.notify_all()

    def add_nowait(self, event: Event) -> None:
        """Queue an event from synchronous code on the loop's thread; `QueueFull` at once when
        there is no room."""
        self._start()
        if not self._has_room():
            raise QueueFull(f"{self.max_queued} events are waiting to be recorded")
        self._enqueue(event)
        asyncio.get_running_loop().create_task(self._notify())

    async def flush(self) -> None:
        """Send everything queued now and wait until it is recorded (or given up on)."""
        async with self._cond:
            self._flushing = True
            self._cond.notify_all()
            await self._cond.wait_for(lambda: self._pending == 0)

    async def aclose(self, timeout: float = 30.0) -> bool:
        """Flush and stop; events unsent after `timeout` seconds go to `on_error`."""
        async with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._worker is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._worker), timeout)
            except TimeoutError:
                self._giving_up = True
                async with self._cond:
                    self._cond.notify_all()
                await self._worker
        return self.stats.failed == 0

    async def __aenter__(self) -> AsyncRecorder:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    # --- the worker --------------------------------------------------------------------------
    def _has_room(self) -> bool:
        if self._closed:
            raise RecorderClosed("this recorder is closed")
        return len(self._queue) < self.max_queued

    def _enqueue(self, event: Event) -> None:
        self._queue.append(event)
        self._pending += 1

    async def _notify(self) -> None:
        async with self._cond:
            self._cond.notify_all()

    def _start(self) -> None:
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while (batch := await self._next_batch()) is not None:
            await self._send(batch)

    async def _next_batch(self) -> list[Event] | None:
        async with self._cond:
            await self._cond.wait_for(lambda: bool(self._queue) or self._closed)
            if not self._queue:
                return None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._cond.wait_for(
                    lambda: len(self._queue) >= self.batch_size or self._flushing
                    or self._closed), self.flush_seconds)
            count = min(self.batch_size, len(self._queue))
            batch = [self._queue.popleft() for _ in range(count)]
            self._cond.notify_all()
            return batch

    async def _send(self, batch: list[Event]) -> None:
        retry = RetryPolicy(attempts=1_000_000, max_seconds=30.0)
        attempt = 0
        while True:
            attempt += 1
            if self._giving_up:
                self._fail(batch, Unreachable("the recorder was closed before these were sent"))
                break
            try:
                self.stats.count(await self.client.record(batch))
                break
            except TRANSIENT as exc:
                delay = retry.delay(attempt, getattr(exc, "retry_after", None))
                async with self._cond:
                    with contextlib.suppress(TimeoutError):  # aclose's give-up wakes it early
                        await asyncio.wait_for(self._cond.wait_for(lambda: self._giving_up),
                                               delay)
            except (ClientError, ValueError) as exc:
                self._fail(batch, exc)
                break
        async with self._cond:
            self._pending -= len(batch)
            if self._pending == 0:
                self._flushing = False
            self._cond.notify_all()

    def _fail(self, batch: list[Event], error: Exception) -> None:
        self.stats.failed += len(batch)
        try:
            self.on_error(batch, error)
        except Exception:  # a failing callback must not stop the worker
            log.exception("usagebook: the recorder's on_error callback failed")
