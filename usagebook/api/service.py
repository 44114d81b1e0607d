"""Service endpoints: liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter

from usagebook.api.deps import DatabaseDep
from usagebook.api.schemas import error_responses
from usagebook.api.wire import ExactJSONResponse
from usagebook.store.health import ping

router = APIRouter(tags=["service"])


@router.get("/healthz", response_class=ExactJSONResponse)
async def healthz() -> ExactJSONResponse:
    return ExactJSONResponse({"status": "ok"})


@router.get("/readyz", response_class=ExactJSONResponse, responses=error_responses(503))
async def readyz(database: DatabaseDep) -> ExactJSONResponse:
    async with database.read() as conn:
        await ping(conn)
    return ExactJSONResponse({"status": "ready"})
