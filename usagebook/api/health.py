"""Health endpoints: liveness (/healthz) and readiness (/readyz)."""

from __future__ import annotations

from fastapi import APIRouter

from usagebook.api.deps import DatabaseDep, SettingsDep
from usagebook.api.exact_json import ExactJSONResponse
from usagebook.api.schemas import error_responses
from usagebook.ledger.health import check_ready

router = APIRouter(tags=["service"])


@router.get("/healthz", response_class=ExactJSONResponse)
async def healthz() -> ExactJSONResponse:
    return ExactJSONResponse({"status": "ok"})


@router.get("/readyz", response_class=ExactJSONResponse, responses=error_responses(503))
async def readyz(database: DatabaseDep, settings: SettingsDep) -> ExactJSONResponse:
    """200 when the database answers within `readiness_timeout_seconds`, connecting included;
    503 otherwise, within that time (not after the longer timeouts requests get)."""
    await check_ready(database, settings.readiness_timeout_seconds)
    return ExactJSONResponse({"status": "ready"})
