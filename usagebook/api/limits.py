"""PUT and GET /api/v1/billing/limits (usagebook's own, ADMIN key): the caller's account's
monthly spending limits, the month's usage and its overspend."""

from __future__ import annotations

from fastapi import APIRouter, Request

from usagebook.api.deps import AdminCaller, DatabaseDep
from usagebook.api.exact_json import ExactJSONResponse
from usagebook.api.limits_wire import limits_to_wire, parse_limits
from usagebook.api.recording import json_body
from usagebook.api.schemas import ExactNumber, error_responses
from usagebook.ledger.limits import limits_of, set_limits
from usagebook.strict_model import StrictModel

router = APIRouter(prefix="/api/v1/billing", tags=["billing"])


class ClassFigures(StrictModel):
    usd: ExactNumber
    diem: ExactNumber


class Limits(StrictModel):
    monthlyUsd: ExactNumber | None
    monthlyDiem: ExactNumber | None
    currentMonthUsage: ClassFigures
    overspend: ClassFigures


_PUT_BODY = {
    "required": True,
    "content": {"application/json": {"schema": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            name: {"type": ["string", "number", "null"],
                   "description": "0..9999999999, at most 9 decimals; null for no limit"}
            for name in ("monthlyUsd", "monthlyDiem")
        },
    }}},
}


@router.get(
    "/limits",
    response_class=ExactJSONResponse,
    summary="The account's monthly spending limits, the month's usage and overspend",
    responses={200: {"model": Limits}, **error_responses(401, 429, 500, 503)},
)
async def get_limits(caller: AdminCaller, database: DatabaseDep) -> ExactJSONResponse:
    return ExactJSONResponse(limits_to_wire(await limits_of(database, caller.account_id)))


@router.put(
    "/limits",
    response_class=ExactJSONResponse,
    summary="Set the account's monthly spending limits (null: none)",
    openapi_extra={"requestBody": _PUT_BODY},
    responses={200: {"model": Limits}, **error_responses(400, 401, 413, 429, 500, 503)},
)
async def put_limits(
    caller: AdminCaller, request: Request, database: DatabaseDep
) -> ExactJSONResponse:
    await set_limits(database, caller.account_id, parse_limits(await json_body(request)))
    return ExactJSONResponse(limits_to_wire(await limits_of(database, caller.account_id)))
