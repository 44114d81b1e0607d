"""The background recorders against a real server behind a real proxy: batches by size and by
time, back-pressure from a bounded queue, a failed batch sent again later with the same
request ids, and the flush on close and at interpreter exit."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support.client import FAST_RETRY, Ledger, events, stored_request_ids
from tests.support.faulty_proxy import FaultyProxy
from usagebook.client import (
    AsyncRecorder,
    AsyncUsagebookClient,
    Event,
    QueueFull,
    Recorder,
    RecorderClosed,
)


def _prefix(batch: list[Event]) -> str:
    return batch[0].request_id.split("-")[0]


def test_batches_by_size(ledger: Ledger, proxy: FaultyProxy) -> None:
    batch = events(ledger, 35)
    with ledger.client(proxy.url) as client:
        recorder = Recorder(client, batch_size=10, flush_seconds=60, flush_at_exit=False)
        for event in batch:
            recorder.add(event)
        assert recorder.flush(timeout=30)
        recorder.close()
    assert proxy.sizes() == [10, 10, 10, 5]
    assert recorder.stats.recorded == 35 and recorder.stats.failed == 0
    assert sorted(stored_request_ids(ledger, _prefix(batch))) == sorted(
        e.request_id for e in batch)


def test_batches_by_time_without_a_flush(ledger: Ledger, proxy: FaultyProxy) -> None:
    with ledger.client(proxy.url) as client:
        recorder = Recorder(client, batch_size=1000, flush_seconds=0.05, flush_at_exit=False)
        for event in events(ledger, 3):
            recorder.add(event)
        assert proxy.posted.wait(30)  # sent on its own, once flush_seconds passed
        recorder.close()
    assert proxy.sizes() == [3]


def test_a_full_queue_pushes_back(ledger: Ledger, proxy: FaultyProxy) -> None:
    batch = events(ledger, 6)
    proxy.release.clear()  # the first request is held at the proxy
    with ledger.client(proxy.url) as client:
        recorder = Recorder(client, batch_size=2, flush_seconds=0, max_queued=3,
                            flush_at_exit=False)
        recorder.add(batch[0])
        assert proxy.posted.wait(30)  # the worker took it: in flight, held
        for event in batch[1:4]:
            recorder.add(event, timeout=5)  # room for three
        with pytest.raises(QueueFull):
            recorder.add(batch[4], timeout=0.05)
        proxy.release.set()
        recorder.add(batch[4], timeout=30)  # waits until the worker makes room
        recorder.add(batch[5], timeout=30)
        assert recorder.close(timeout=30)
        with pytest.raises(RecorderClosed):
            recorder.add(batch[0])
    assert recorder.stats.recorded == 6
    assert sorted(stored_request_ids(ledger, _prefix(batch))) == sorted(
        e.request_id for e in batch)


def test_a_failed_batch_is_sent_again_with_the_same_ids(
    ledger: Ledger, proxy: FaultyProxy
) -> None:
    batch = events(ledger, 4)
    # More refusals than the client's own attempts, and one lost answer: the recorder keeps
    # the batch and sends it again later, exactly as it was.
    proxy.faults = ["refuse"] * (FAST_RETRY.attempts + 1) + ["lose"]
    with ledger.client(proxy.url, retry=FAST_RETRY) as client:
        recorder = Recorder(client, batch_size=10, flush_seconds=0, flush_at_exit=False)
        for event in batch:
            recorder.add(event)
        assert recorder.flush(timeout=60)
        recorder.close()
    assert all(ids == [e.request_id for e in batch] for ids in proxy.batches)
    assert len(proxy.batches) == FAST_RETRY.attempts + 3
    assert recorder.stats.duplicate == 4 and recorder.stats.failed == 0
    assert sorted(stored_request_ids(ledger, _prefix(batch))) == sorted(
        e.request_id for e in batch)


def test_close_gives_up_on_an_unreachable_server(ledger: Ledger, proxy: FaultyProxy) -> None:
    proxy.faults = ["refuse"] * 1000
    failed: list[str] = []
    with ledger.client(proxy.url, retry=FAST_RETRY) as client:
        recorder = Recorder(client, batch_size=10, flush_seconds=0, flush_at_exit=False,
                            on_error=lambda evs, exc: failed.extend(e.request_id for e in evs))
        batch = events(ledger, 3)
        for event in batch:
            recorder.add(event)
        assert proxy.posted.wait(30)
        assert recorder.close(timeout=0.5) is False
    assert failed == [e.request_id for e in batch] and recorder.stats.failed == 3


def test_queued_events_are_flushed_at_exit(ledger: Ledger, tmp_path: Path) -> None:
    batch = events(ledger, 7)
    script = textwrap.dedent(f"""
        from usagebook.client import Event, Recorder, UsagebookClient
        client = UsagebookClient({ledger.url!r}, operator_token={ledger.operator_token!r})
        recorder = Recorder(client, batch_size=1000, flush_seconds=3600)
        for request_id in {[e.request_id for e in batch]!r}:
            recorder.add(Event(request_id, {batch[0].sku!r}, "0.001",
                               api_key_id={ledger.inference_key_id!r}))
        # no close(): the interpreter's exit flushes
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120,
                   env={**os.environ}, cwd=tmp_path)
    assert sorted(stored_request_ids(ledger, _prefix(batch))) == sorted(
        e.request_id for e in batch)


def test_the_async_recorder(ledger: Ledger, proxy: FaultyProxy) -> None:
    batch = events(ledger, 25)

    async def scenario() -> AsyncRecorder:
        async with AsyncUsagebookClient(proxy.url, operator_token=ledger.operator_token,
                                        retry=FAST_RETRY) as client:
            recorder = AsyncRecorder(client, batch_size=10, flush_seconds=60, max_queued=30)
            for event in batch[:20]:
                await recorder.add(event)
            await recorder.flush()
            assert proxy.sizes() == [10, 10]
            for event in batch[20:]:
                recorder.add_nowait(event)
            assert await recorder.aclose()
            with pytest.raises(RecorderClosed):
                await recorder.add(batch[0])
            return recorder

    recorder = asyncio.run(scenario())
    assert proxy.sizes() == [10, 10, 5]
    assert recorder.stats.recorded == 25
    assert sorted(stored_request_ids(ledger, _prefix(batch))) == sorted(
        e.request_id for e in batch)


def test_the_async_queue_pushes_back(ledger: Ledger, proxy: FaultyProxy) -> None:
    proxy.release.clear()

    async def scenario() -> None:
        async with AsyncUsagebookClient(proxy.url, operator_token=ledger.operator_token) as c:
            recorder = AsyncRecorder(c, batch_size=1, flush_seconds=0, max_queued=2)
            batch = events(ledger, 4)
            await recorder.add(batch[0])
            await asyncio.get_running_loop().run_in_executor(None, proxy.posted.wait, 30)
            await recorder.add(batch[1])
            recorder.add_nowait(batch[2])
            with pytest.raises(QueueFull):
                recorder.add_nowait(batch[3])
            with pytest.raises(QueueFull):
                await recorder.add(batch[3], timeout=0.05)
            proxy.release.set()
            await recorder.add(batch[3], timeout=30)
            assert await recorder.aclose()
            assert recorder.stats.recorded == 4

    asyncio.run(scenario())
