"""Background recording for a threaded inference server: `add()` returns at once, a worker
thread sends events in batches (by size, or after `flush_seconds`), and retries a failed batch
with the same request ids, so nothing is charged twice and nothing is dropped while the server
is away. The queue is bounded: when it is full, `add()` waits (back-pressure), and raises
`QueueFull` once its own timeout passes. Queued events are flushed on `close()` and at
interpreter exit."""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from usagebook.client._core import RetryPolicy
from usagebook.client.errors import (
    ClientError,
    QueueFull,
    RateLimited,
    RecorderClosed,
    ServerError,
    Unreachable,
)
from usagebook.client.models import Event, RecordResult
from usagebook.client.sync import UsagebookClient

log = logging.getLogger("usagebook.client")
OnError = Callable[[list[Event], Exception], None]
# Worth sending again later (the same batch, the same request ids); anything else (a 400 naming
# a bad event, a 401) would fail the same way again and goes to `on_error`.
TRANSIENT = (Unreachable, ServerError, RateLimited)


@dataclass
class RecorderStats:
    recorded: int = 0
    duplicate: int = 0
    conflict: int = 0
    failed: int = 0

    def count(self, results: list[RecordResult]) -> None:
        for result in results:
            setattr(self, result.status, getattr(self, result.status) + 1)


def log_failure(events: list[Event], error: Exception) -> None:
    sample = ", ".join(event.request_id for event in events[:5])
    log.error("usagebook: %d events not recorded (%s): %s...", len(events), error, sample)


class Recorder:
    def __init__(self, client: UsagebookClient, *, batch_size: int = 500,
                 flush_seconds: float = 1.0, max_queued: int = 10_000,
                 on_error: OnError = log_failure, flush_at_exit: bool = True) -> None:
        if not 1 <= batch_size <= 1000:
            raise ValueError("batch_size must be 1..1000 (the server's limit per request)")
        self.client = client
        self.batch_size, self.flush_seconds, self.max_queued = batch_size, flush_seconds, max_queued
        self.on_error = on_error
        self.stats = RecorderStats()
        self._queue: deque[Event] = deque()
        self._pending = 0  # added and not yet sent (or given up on)
        self._cond = threading.Condition()
        self._flushing = False
        self._closed = False
        self._give_up_at: float | None = None
        self._worker = threading.Thread(target=self._run, name="usagebook-recorder", daemon=True)
        self._worker.start()
        self._at_exit = flush_at_exit
        if flush_at_exit:
            atexit.register(self.close)

    def add(self, event: Event, timeout: float | None = None) -> None:
        """Queue an event. Waits while the queue is full; raises `QueueFull` after `timeout`
        seconds (None: wait as long as it takes), `RecorderClosed` after `close()`."""
        with self._cond:
            room = self._cond.wait_for(
                lambda: self._closed or len(self._queue) < self.max_queued, timeout)
            if self._closed:
                raise RecorderClosed("this recorder is closed")
            if not room:
                raise QueueFull(f"{self.max_queued} events are waiting to be recorded")
            self._queue.append(event)
            self._pending += 1
            self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything queued now; True once all of it is recorded (or given up on)."""
        with self._cond:
            self._flushing = True
            self._cond.notify_all()
            return self._cond.wait_for(lambda: self._pending == 0, timeout)

    def close(self, timeout: float | None = 30.0) -> bool:
        """Flush, then stop the worker. Events still unsent after `timeout` seconds go to
        `on_error`; returns whether everything was recorded."""
        if self._at_exit:
            atexit.unregister(self.close)
            self._at_exit = False
        with self._cond:
            if self._closed and not self._worker.is_alive():
                return self._pending == 0
            self._closed = True
            self._give_up_at = None if timeout is None else time.monotonic() + timeout
            self._cond.notify_all()
        self._worker.join()
        return self.stats.failed == 0

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- the worker ----------------------------------------------------------------------------
    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            self._send(batch)

    def _next_batch(self) -> list[Event] | None:
        with self._cond:
            self._cond.wait_for(lambda: bool(self._queue) or self._closed)
            if not self._queue:
                return None  # closed and drained
            deadline = time.monotonic() + self.flush_seconds
            self._cond.wait_for(lambda: len(self._queue) >= self.batch_size or self._flushing
                                or self._closed, max(0.0, deadline - time.monotonic()))
            count = min(self.batch_size, len(self._queue))
            batch = [self._queue.popleft() for _ in range(count)]
            self._cond.notify_all()  # room for waiting producers
            return batch

    def _send(self, batch: list[Event]) -> None:
        retry = RetryPolicy(attempts=1_000_000, max_seconds=30.0)
        attempt = 0
        while True:
            attempt += 1
            if self._time_is_up():
                self._fail(batch, Unreachable("the recorder was closed before these were sent"))
                break
            try:
                self.stats.count(self.client.record(batch))
                break
            except TRANSIENT as exc:
                if self._wait_or_give_up(retry.delay(attempt, getattr(exc, "retry_after", None))):
                    self._fail(batch, exc)
                    break
            except (ClientError, ValueError) as exc:
                self._fail(batch, exc)
                break
        with self._cond:
            self._pending -= len(batch)
            if self._pending == 0:
                self._flushing = False
            self._cond.notify_all()

    def _wait_or_give_up(self, seconds: float) -> bool:
        """Wait before the next try; True when closing and its time is up."""
        with self._cond:
            if self._closed and self._give_up_at is not None:
                seconds = min(seconds, self._give_up_at - time.monotonic())
                if seconds <= 0:
                    return True
            self._cond.wait(seconds)
            return False

    def _time_is_up(self) -> bool:
        with self._cond:
            return self._give_up_at is not None and time.monotonic() >= self._give_up_at

    def _fail(self, batch: list[Event], error: Exception) -> None:
        self.stats.failed += len(batch)
        try:
            self.on_error(batch, error)
        except Exception:  # a failing callback must not stop the worker
            log.exception("usagebook: the recorder's on_error callback failed")
