"""Alembic environment: runs the migrations over the async engine usagebook already uses."""

from __future__ import annotations

import asyncio
import time

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from usagebook.store.migrate import CONNECT_TIMEOUT_SECONDS, MIGRATION_LOCK, connect_args
from usagebook.store.partitions import ensure_partitions
from usagebook.store.tables import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
        # Every migrate (so every `serve` start) keeps the ledger's coming months partitioned,
        # under the same lock as the migrations.
        ensure_partitions(connection, int(time.time() * 1000))


async def _run_async() -> None:
    url = config.get_main_option("sqlalchemy.url") or ""
    timeout = float(config.attributes.get("connect_timeout_seconds", CONNECT_TIMEOUT_SECONDS))
    engine = create_async_engine(url, poolclass=NullPool, connect_args=connect_args(url, timeout))
    async with engine.connect() as connection:
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            # One migrator at a time across hosts: the others wait here, then find the schema
            # current (Alembic reads the version after the lock is granted). The lock is the
            # session's, released below or when the connection dies with its process.
            await connection.execute(text("SELECT pg_advisory_lock(:key)"),
                                     {"key": MIGRATION_LOCK})
            await connection.commit()
        await connection.run_sync(_run)
        await connection.commit()
        if postgres:
            await connection.execute(text("SELECT pg_advisory_unlock(:key)"),
                                     {"key": MIGRATION_LOCK})
            await connection.commit()
    await engine.dispose()


asyncio.run(_run_async())
