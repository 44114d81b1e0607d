"""SQLite's read path: a request's whole read in one hand-off to a reader thread (or, for a
primary-key read, none: `call_here`).

aiosqlite hands every call (cursor, execute, each fetch) to its connection's thread and back;
for a short read those hand-offs took ~40% of the server's samples. A reader thread instead runs
a plain function over its own `sqlite3` connection, doing every statement of the request, and
hands the result back once.

Each reader thread has its own connection (WAL mode lets readers run beside the writer and each
other; sqlite3 releases the GIL while a statement runs). The connections are in autocommit mode
and `query_only`: a lone SELECT reads one snapshot by itself; a function that needs several
statements on one snapshot wraps them in BEGIN ... COMMIT (`snapshot`).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")
READER_THREADS = 2
BUSY_TIMEOUT_MS = 30_000


class SqliteReader:
    def __init__(self, path: str, threads: int = READER_THREADS,
                 busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        self._path = path
        self._busy_timeout_ms = busy_timeout_ms  # the statement timeout (Settings)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="sqlite-reader")

    async def call(self, work: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._run, work, args)

    def call_here(self, work: Callable[..., T], *args: Any) -> T:
        """`work` on the calling (event loop) thread's own connection, with no hand-off: for
        reads bounded by a primary key (a key, a balance), cheaper than the hand-off itself
        (its queue, wake-up and GIL exchange: docs/performance.md, The read hot path). WAL
        readers never wait for the writer, so this does not block."""
        return self._run(work, args)

    def _run(self, work: Callable[..., T], args: tuple[Any, ...]) -> T:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._open()
        return work(connection, *args)

    def _open(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        connection.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms}")
        connection.execute("PRAGMA query_only=ON")
        self._local.connection = connection
        with self._lock:
            self._connections.append(connection)
        return connection

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()


@contextmanager
def snapshot(connection: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Statements inside read one snapshot (a deferred read transaction in WAL mode)."""
    connection.execute("BEGIN")
    try:
        yield connection
    finally:
        connection.execute("COMMIT")
