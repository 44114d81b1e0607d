"""Service endpoints: liveness and readiness."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from usagebook.api.deps import DatabaseDep, SettingsDep
from usagebook.api.schemas import error_responses
from usagebook.api.wire import ExactJSONResponse
from usagebook.errors import StoreUnavailable
from usagebook.store.health import ping

router = APIRouter(tags=["service"])


@router.get("/healthz", response_class=ExactJSONResponse)
async def healthz() -> ExactJSONResponse:
    return ExactJSONResponse({"status": "ok"})


@router.get("/readyz", response_class=ExactJSONResponse, responses=error_responses(503))
async def readyz(database: DatabaseDep, settings: SettingsDep) -> ExactJSONResponse:
    """200 when the database answers within `readiness_timeout_seconds`, connecting included;
    503 otherwise, within that time (not after the longer timeouts requests get)."""
    limit = settings.readiness_timeout_seconds
    try:
        async with asyncio.timeout(limit), database.read() as conn:
            await ping(conn)
    except TimeoutError:
        raise StoreUnavailable(f"Database did not answer within {limit:g} s") from None
    return ExactJSONResponse({"status": "ready"})
