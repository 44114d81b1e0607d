"""The database handle: one async engine, read and write transactions, backend quirks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from usagebook.settings import Settings


class Database:
    """Owns the engine. `read()` gives a connection in a read transaction; `write()` a
    connection in a transaction that commits on success and rolls back on any error.

    On SQLite a write transaction starts with BEGIN IMMEDIATE, so concurrent writers queue on
    the busy timeout instead of failing to upgrade a read lock mid-transaction.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

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

    async def dispose(self) -> None:
        await self.engine.dispose()


def create_database(settings: Settings, **engine_options: Any) -> Database:
    url = settings.database_url
    if url.startswith("sqlite"):
        engine = create_async_engine(url, poolclass=NullPool if ":memory:" in url else None,
                                     **engine_options)
        _configure_sqlite(engine)
    else:
        engine = create_async_engine(
            url,
            pool_size=engine_options.pop("pool_size", 10),
            max_overflow=engine_options.pop("max_overflow", 10),
            pool_pre_ping=True,
            connect_args={
                # Generic plans for reused prepared statements were 2x slower for a 5M-entry
                # account (see shared limits); JIT only slows these short queries down.
                "server_settings": {"plan_cache_mode": "force_custom_plan", "jit": "off"},
            },
            **engine_options,
        )
    return Database(engine)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, emit BEGIN (the pysqlite/aiosqlite recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")
