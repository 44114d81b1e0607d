"""The durable local queue of metered requests: an SQLite file beside the gateway.

Guarantee: when `put` returns, the record is on disk (WAL, `synchronous=FULL`: the commit is
fsync'd), so a gateway killed with SIGKILL right after answering still has it, and the next
gateway started on the same file sends it. Records leave the queue only when the ledger has
acknowledged them (`remove`), or, refused for good, into the `dead` table, kept for the operator.
The `releases` table keeps the holds to release (requests that recorded nothing: an upstream
error, a customer gone before any token, zero tokens) until the ledger has released them.

One thread owns the connection. Puts that arrive while a commit is running wait for the next
one and share it (group commit), so a burst costs one fsync, not one per request.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TypeVar

from usagebook.gateway.records import UsageRecord

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (
    id INTEGER PRIMARY KEY,
    request_id TEXT NOT NULL UNIQUE,
    record BLOB NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS dead (
    id INTEGER PRIMARY KEY,
    request_id TEXT NOT NULL UNIQUE,
    record BLOB NOT NULL,
    reason TEXT NOT NULL,
    failed_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS releases (
    id INTEGER PRIMARY KEY,
    hold_id TEXT NOT NULL UNIQUE
);
"""


class UsageQueue:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="usage-queue")
        self._waiting: list[tuple[UsageRecord, asyncio.Future[None]]] = []
        self._flushing = False
        self._conn: sqlite3.Connection | None = None
        self.added = asyncio.Event()  # set by every put, for the sender to wake on

    async def open(self) -> None:
        await self._run(self._open)

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.executescript(_SCHEMA)
        self._conn = conn

    async def close(self) -> None:
        await self._run(self._close)
        self._thread.shutdown(wait=True)

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def _run(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, work)

    async def put(self, record: UsageRecord) -> None:
        """Returns once the record is committed and fsync'd."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((record, done))
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().create_task(self._flush())
        await asyncio.shield(done)

    async def _flush(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    records = [record for record, _ in batch]
                    await self._run(partial(self._insert, records))
                except Exception as exc:  # the answers wait on it: each learns the failure
                    for _, done in batch:
                        done.set_exception(exc)
                    continue
                for _, done in batch:
                    done.set_result(None)
                self.added.set()
        finally:
            self._flushing = False

    def _insert(self, records: list[UsageRecord]) -> None:
        assert self._conn is not None
        with self._conn:
            self._conn.execute("BEGIN")
            self._conn.executemany(
                "INSERT OR IGNORE INTO pending (request_id, record) VALUES (?, ?)",
                [(r.request_id, r.to_json()) for r in records])

    async def take(self, limit: int) -> list[tuple[int, UsageRecord]]:
        """The oldest pending records (they stay queued until removed)."""
        def read() -> list[tuple[int, UsageRecord]]:
            assert self._conn is not None
            rows = self._conn.execute(
                "SELECT id, record FROM pending ORDER BY id LIMIT ?", (limit,)).fetchall()
            return [(row_id, UsageRecord.from_json(raw)) for row_id, raw in rows]
        return await self._run(read)

    async def remove(self, ids: list[int], release: list[str] | None = None) -> None:
        """Records the ledger has; in the same commit, the holds in `release` are queued for
        release (records that became no event, so that nothing would settle their holds)."""
        def delete() -> None:
            assert self._conn is not None
            with self._conn:
                self._conn.execute("BEGIN")
                self._conn.executemany("DELETE FROM pending WHERE id = ?", [(i,) for i in ids])
                self._conn.executemany("INSERT OR IGNORE INTO releases (hold_id) VALUES (?)",
                                       [(hold_id,) for hold_id in release or ()])
        await self._run(delete)

    async def put_release(self, hold_id: str) -> int:
        """Queue a hold for release; returns once committed and fsync'd (its row id)."""
        def insert() -> int:
            assert self._conn is not None
            with self._conn:
                self._conn.execute("BEGIN")
                self._conn.execute("INSERT OR IGNORE INTO releases (hold_id) VALUES (?)",
                                   (hold_id,))
                row = self._conn.execute("SELECT id FROM releases WHERE hold_id = ?",
                                         (hold_id,)).fetchone()
            return int(row[0])
        return await self._run(insert)

    async def take_releases(self, limit: int) -> list[tuple[int, str]]:
        """The oldest holds to release, (row id, hold id); they stay queued until removed."""
        def read() -> list[tuple[int, str]]:
            assert self._conn is not None
            rows = self._conn.execute(
                "SELECT id, hold_id FROM releases ORDER BY id LIMIT ?", (limit,)).fetchall()
            return [(int(row_id), str(hold_id)) for row_id, hold_id in rows]
        return await self._run(read)

    async def remove_releases(self, ids: list[int]) -> None:
        def delete() -> None:
            assert self._conn is not None
            with self._conn:
                self._conn.execute("BEGIN")
                self._conn.executemany("DELETE FROM releases WHERE id = ?", [(i,) for i in ids])
        await self._run(delete)

    async def replace(self, row_id: int, record: UsageRecord) -> None:
        """Keep what was learned about a record (its key's id, once resolved)."""
        def update() -> None:
            assert self._conn is not None
            self._conn.execute("UPDATE pending SET record = ? WHERE id = ?",
                               (record.to_json(), row_id))
        await self._run(update)

    async def bury(self, row_id: int, reason: str) -> None:
        """Move a record the ledger refuses for good into `dead`, out of the sending loop."""
        def move() -> None:
            assert self._conn is not None
            with self._conn:
                self._conn.execute("BEGIN")
                self._conn.execute(
                    "INSERT OR REPLACE INTO dead (request_id, record, reason, failed_ms) "
                    "SELECT request_id, record, ?, ? FROM pending WHERE id = ?",
                    (reason, int(time.time() * 1000), row_id))
                self._conn.execute("DELETE FROM pending WHERE id = ?", (row_id,))
        await self._run(move)

    async def counts(self) -> tuple[int, int]:
        """(pending, dead) records."""
        def count() -> tuple[int, int]:
            assert self._conn is not None
            pending = self._conn.execute("SELECT count(*) FROM pending").fetchone()[0]
            dead = self._conn.execute("SELECT count(*) FROM dead").fetchone()[0]
            return int(pending), int(dead)
        return await self._run(count)

    async def releases_pending(self) -> int:
        def count() -> int:
            assert self._conn is not None
            return int(self._conn.execute("SELECT count(*) FROM releases").fetchone()[0])
        return await self._run(count)
