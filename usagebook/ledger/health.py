"""Whether the database answers: the readiness a load balancer asks `/readyz` for."""

from __future__ import annotations

import asyncio

from usagebook.errors import StoreUnavailable
from usagebook.store.engine import Database
from usagebook.store.health import ping


async def check_ready(database: Database, limit_seconds: float) -> None:
    """Returns when the database answers within `limit_seconds`, connecting included; raises
    StoreUnavailable otherwise, within that time (not after the longer timeouts requests get)."""
    try:
        async with asyncio.timeout(limit_seconds), database.read() as conn:
            await ping(conn)
    except TimeoutError:
        raise StoreUnavailable(f"Database did not answer within {limit_seconds:g} s") from None
