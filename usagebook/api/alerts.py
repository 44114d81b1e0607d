"""/api/v1/alerts: an account's alert settings (ADMIN key, the caller's account only)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from usagebook.api.body import read_small
from usagebook.api.deps import AdminCaller, DatabaseDep
from usagebook.api.exact_json import ExactJSONResponse
from usagebook.api.field_names import wire_names
from usagebook.api.schemas import error_responses
from usagebook.api.webhook_schemas import (
    ALERT_FIELDS,
    INVALID_BODY,
    AlertSettingsBody,
    alerts_to_wire,
    documented_body,
)
from usagebook.ledger import alerts

router = APIRouter(prefix="/api/v1/alerts", tags=["webhooks"])


@router.put("", response_class=ExactJSONResponse,
            summary="Set key thresholds (percent of each key's limits) and balance alerts",
            openapi_extra=documented_body(AlertSettingsBody),
            responses={200: {"model": AlertSettingsBody},
                       **error_responses(400, 401, 413, 429, 500, 503)})
@wire_names(ALERT_FIELDS)
async def put_alerts(request: Request, caller: AdminCaller,
                     database: DatabaseDep) -> ExactJSONResponse:
    body = await read_small(request, AlertSettingsBody, INVALID_BODY)
    wanted = alerts.parse_settings(body.keyThresholds, body.balanceBelow)
    stored = await alerts.put_settings(database, caller.account_id, wanted)
    return ExactJSONResponse(alerts_to_wire(stored))


@router.get("", response_class=ExactJSONResponse, summary="The account's alert settings",
            responses={200: {"model": AlertSettingsBody},
                       **error_responses(401, 429, 500, 503)})
async def get_alerts(caller: AdminCaller, database: DatabaseDep) -> ExactJSONResponse:
    return ExactJSONResponse(alerts_to_wire(await alerts.get_settings(database, caller.account_id)))
