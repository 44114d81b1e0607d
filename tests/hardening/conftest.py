"""Fixtures the hardening suites share."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator

import asyncpg
import pytest


async def _hold_lock(url: str, tables: str, locked: threading.Event,
                     release: threading.Event) -> None:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        async with conn.transaction():
            if tables == "*":
                names = await conn.fetch("SELECT quote_ident(tablename) AS name FROM pg_tables "
                                         "WHERE schemaname = 'public'")
                tables = ", ".join(row["name"] for row in names)
            await conn.execute(f"LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE")
            locked.set()
            await asyncio.get_running_loop().run_in_executor(None, release.wait, 60)
    finally:
        await conn.close()


@pytest.fixture
def pg_lock(database_urls: dict[str, str]) -> Iterator[Callable[[str], None]]:
    """Take an ACCESS EXCLUSIVE lock on tables ("*": all of them) of this run's scratch
    database from another session, until the test ends."""
    holders: list[tuple[threading.Thread, threading.Event]] = []

    def lock(tables: str) -> None:
        locked, release = threading.Event(), threading.Event()
        holder = threading.Thread(target=asyncio.run, daemon=True, args=(
            _hold_lock(database_urls["postgresql"], tables, locked, release),))
        holder.start()
        holders.append((holder, release))
        assert locked.wait(15), "could not take the lock"

    yield lock
    for holder, release in holders:
        release.set()
        holder.join(15)
