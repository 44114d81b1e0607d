"""The database handle: one async engine, read and write transactions, backend quirks; and
the choice of database for reads that may lag.

Reads that may lag: analytics and export can be served by a streaming-replication standby
(`USAGEBOOK_READ_DATABASE_URL`) while its lag stays within `USAGEBOOK_MAX_REPLICA_LAG_SECONDS`.

Everything else (balances, recording, keys, pages and the cursor walk) reads the primary, so it
reads its own writes. The lag is measured at most once a second by comparing the primary's
current WAL position with the standby's replayed one: equal means no lag; otherwise the lag is
the time since the standby last replayed a commit (an upper bound of how stale its data is).
A standby that cannot be asked counts as infinitely behind, so reads fall back to the primary.

The hot paths' short cuts: `fetch` (PostgreSQL: one prepared statement on a pooled asyncpg
connection, no transaction around it) and `call_reader` (SQLite: a request's whole read in one
hand-off to a reader thread, `store.reader`). No pre-ping: checking every connection out with a
round trip cost a short read a second round trip. A connection found dead instead makes SQLAlchemy
invalidate the pool (every connection older than the failure is replaced on its next
checkout), and the hot paths retry once.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool
from sqlalchemy.util import greenlet_spawn

from usagebook.errors import StoreUnavailable
from usagebook.metrics import REPLICA_LAG, REPLICA_READS
from usagebook.secrets_file import create_sqlite_file
from usagebook.settings import Settings
from usagebook.store.keycache import KeyCache
from usagebook.store.reader import SqliteReader

T = TypeVar("T")
# What a dropped or refused connection raises from asyncpg itself (not through SQLAlchemy);
# InternalClientError: the connection's protocol state is broken (an operation left running).
_DROPPED = (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError,
            asyncpg.CannotConnectNowError, asyncpg.InternalClientError)
UNAVAILABLE_MESSAGE = "Database unavailable"


class Database:
    """Owns the engine. `read()` gives a connection in a read transaction; `write()` a
    connection in a transaction that commits on success and rolls back on any error.

    On SQLite a write transaction starts with BEGIN IMMEDIATE, so concurrent writers queue on
    the busy timeout instead of failing to upgrade a read lock mid-transaction.

    `keys` caches API keys by their hash for authentication (see `store.keycache`).
    """

    def __init__(self, engine: AsyncEngine, keys: KeyCache | None = None,
                 reader: SqliteReader | None = None) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self.keys = keys if keys is not None else KeyCache()
        self._reader = reader
        # Set by create_database when a read standby is configured (LaggingReads, below).
        self.lagging_reads: LaggingReads | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def has_reader(self) -> bool:
        """True where `call_reader` runs (a SQLite file; an in-memory database has none)."""
        return self._reader is not None

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            if self.is_sqlite:
                await conn.execution_options(sqlite_begin="IMMEDIATE")
            async with conn.begin():
                yield conn

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        """PostgreSQL only: one statement on a pooled connection, outside any transaction (a
        single statement reads one snapshot by itself, so no BEGIN/COMMIT round trips), with
        the connection's settings (`_create`). asyncpg prepares it once per connection and
        reuses it. A dropped connection is retried once on a fresh one; a second failure
        raises StoreUnavailable."""
        for attempt in (1, 2):
            try:
                fairy = await self.engine.raw_connection()
            except Exception as exc:  # no connection (refused, shutting down, pool timeout):
                # raw_connection raises the dialect's bare DB-API errors, unwrapped
                raise StoreUnavailable(UNAVAILABLE_MESSAGE) from exc
            connection: asyncpg.Connection = fairy.driver_connection
            try:
                rows: list[asyncpg.Record] = await connection.fetch(sql, *args)
            except TimeoutError as exc:  # the command timeout: the server did not answer
                await greenlet_spawn(fairy.invalidate, exc)
                raise StoreUnavailable(UNAVAILABLE_MESSAGE) from exc
            except _DROPPED as exc:
                await greenlet_spawn(fairy.invalidate, exc)
                if attempt == 2:
                    raise StoreUnavailable(UNAVAILABLE_MESSAGE) from exc
                continue
            except asyncpg.PostgresError:
                await greenlet_spawn(fairy.close)  # the server refused the statement: still sound
                raise
            except BaseException as exc:
                # Cancelled mid-statement (or a client-side fault): the connection may still be
                # running the statement, so it is discarded, never handed to the next request.
                await greenlet_spawn(fairy.invalidate, exc)
                raise
            fairy.close()  # back to the pool: no transaction is open, so no round trip
            return rows
        raise AssertionError("unreachable")

    async def call_reader(self, work: Callable[..., T], *args: Any, small: bool = False) -> T:
        """SQLite only: `work(connection, *args)` on a reader thread's own sqlite3 connection,
        the whole of it in one hand-off; `small` (a read bounded by a primary key) runs it on
        the event loop's own connection instead (see `store.reader`)."""
        assert self._reader is not None, "no reader for this database"
        if small:
            return self._reader.call_here(work, *args)
        return await self._reader.call(work, *args)

    async def retrying(self, work: Callable[[Database], Any]) -> Any:
        """Run `await work(self)` again once if it met a connection that had been dropped (a
        database restart leaves every pooled connection dead; the pool replaces them after
        the first failure)."""
        try:
            return await work(self)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
        return await work(self)

    async def dispose(self) -> None:
        await self.keys.close()
        if self._reader is not None:
            self._reader.close()
        await self.engine.dispose()
        if self.lagging_reads is not None:
            await self.lagging_reads.dispose()


def create_database(settings: Settings, **engine_options: Any) -> Database:
    database = _create(settings.database_url, settings, KeyCache(settings.redis_url),
                       **engine_options)
    if settings.read_database_url and not database.is_sqlite:
        replica = _create(settings.read_database_url, settings, None, pool_size=4, max_overflow=4)
        database.lagging_reads = LaggingReads(database, replica,
                                              settings.max_replica_lag_seconds)
    return database


def _create(url: str, settings: Settings, keys: KeyCache | None,
            **engine_options: Any) -> Database:
    """An engine for `url` with the time limits of `settings`."""
    if url.startswith("sqlite"):
        create_sqlite_file(url)
        memory = ":memory:" in url
        engine = create_async_engine(url, poolclass=NullPool if memory else None,
                                     **engine_options)
        busy_ms = _ms(settings.db_statement_timeout_seconds)
        _configure_sqlite(engine, busy_ms=busy_ms)
        path = engine.url.database
        reader = None if memory or not path else SqliteReader(path, busy_timeout_ms=busy_ms)
        return Database(engine, keys, reader)
    engine = create_async_engine(
        url,
        pool_size=engine_options.pop("pool_size", 10),
        max_overflow=engine_options.pop("max_overflow", 10),
        pool_timeout=settings.db_connect_timeout_seconds,  # waiting for a free connection
        connect_args={
            # Generic plans for reused prepared statements were slower for a large account
            # (docs/performance.md); JIT only slows these short queries down.
            "server_settings": {"plan_cache_mode": "force_custom_plan", "jit": "off",
                                **_pg_time_limits(settings)},
            **_asyncpg_time_limits(settings),
        },
        **engine_options,
    )
    return Database(engine, keys)


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _pg_time_limits(settings: Settings) -> dict[str, str]:
    """The server's own limits: a statement, or a wait for a lock, that runs past the statement
    timeout is cancelled (SQLSTATE 57014 / 55P03). An analytics query sets a shorter one."""
    limit = str(_ms(settings.db_statement_timeout_seconds))
    return {"statement_timeout": limit, "lock_timeout": limit}


def _asyncpg_time_limits(settings: Settings) -> dict[str, float]:
    """The client's limits, for a server that stops answering at all (a stalled network): the
    connection handshake, and each command a second after the server should have given up."""
    return {"timeout": settings.db_connect_timeout_seconds,
            "command_timeout": settings.db_statement_timeout_seconds + 1}


def _configure_sqlite(engine: AsyncEngine, busy_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, emit BEGIN (the pysqlite/aiosqlite recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # A statement waits at most this long for another connection's lock (then 503).
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


# --- Reads that may lag -------------------------------------------------------------------------

PRIMARY_POSITION = text("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')")
STANDBY_POSITION = text(
    "SELECT pg_is_in_recovery(), pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0'),"
    " EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())"
)
MEASURE_EVERY_SECONDS = 1.0


@dataclass
class LaggingReads:
    """Chooses the database for a read that may lag behind the primary."""

    primary: Database
    replica: Database
    max_lag_seconds: float
    lag_seconds: float = math.inf
    _measured_at: float = field(default=-math.inf, repr=False)

    async def choose(self) -> Database:
        now = time.monotonic()
        if now - self._measured_at >= MEASURE_EVERY_SECONDS:
            self._measured_at = now
            self.lag_seconds = await self._measure()
            REPLICA_LAG.set(self.lag_seconds)
        use_replica = self.lag_seconds <= self.max_lag_seconds
        REPLICA_READS.labels("replica" if use_replica else "primary").inc()
        return self.replica if use_replica else self.primary

    async def _measure(self) -> float:
        try:
            async with self.replica.read() as conn:
                recovering, replayed, since_commit = (await conn.execute(STANDBY_POSITION)).one()
            if not recovering:
                return 0.0  # promoted (or a primary named as replica): it is current
            async with self.primary.read() as conn:
                written = (await conn.execute(PRIMARY_POSITION)).scalar_one()
        except Exception:  # an unreachable standby is simply not used
            return math.inf
        if replayed is not None and replayed >= written:
            return 0.0
        return math.inf if since_commit is None else float(since_commit)

    async def dispose(self) -> None:
        await self.replica.dispose()


async def for_lagging_reads(db: Database) -> Database:
    """The database a read that may lag should use: the standby when one is configured and
    close enough, else `db` itself."""
    return db if db.lagging_reads is None else await db.lagging_reads.choose()
