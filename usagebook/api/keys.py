"""The Venice-compatible `/api/v1/api_keys` family: list, get one, create, update, revoke, a
key's own status (`rate_limits`) and the account's rate-limit refusals. ADMIN key, except
`rate_limits`, which any key may call about itself. Every call sees only the caller's account:
another account's key id is answered as an unknown one (404 on get one, 400 elsewhere).

The rules live in `ledger.keys` (shared with the CLI); this module reads the wire and writes it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from usagebook.api import key_models as models
from usagebook.api.body import read_small
from usagebook.api.deps import AdminCaller, AnyCaller, DatabaseDep, SettingsDep
from usagebook.api.exact_json import ExactJSONResponse
from usagebook.api.field_names import wire_names
from usagebook.api.key_wire import (
    CreateKeyBody,
    UpdateKeyBody,
    created_to_wire,
    key_to_wire,
    moment,
)
from usagebook.api.schemas import error_responses
from usagebook.errors import InvalidInput, NotFound
from usagebook.ledger import keys
from usagebook.ledger.key_status import ANY_MODEL, RATE_LIMIT_TIER, key_status, newest_refusals
from usagebook.ledger.key_usage import usage_of_account_keys
from usagebook.ledger.keys import Caller, KeyType
from usagebook.ledger.ratelimit import RateLimiter
from usagebook.ledger.records import Database, KeyRow
from usagebook.timeutil import format_ms, now_ms

KEY_CREATIONS_PER_MINUTE = 20  # per account, over HTTP
UNKNOWN_KEY = "no API key with this id"

router = APIRouter(prefix="/api/v1/api_keys", tags=["api keys"])
# The body's field names for KeyOptions' and KeyUpdate's fields (those spelt alike left out).
KEY_FIELDS = {"expires_ms": "expiresAt", "limits": "consumptionLimit"}


def _creation_limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.key_creation_limiter
    return limiter


def _body_schema(model: type[CreateKeyBody | UpdateKeyBody]) -> dict[str, Any]:
    """The request body's JSON schema for /openapi.json, nested models written in place (a
    `$ref` in an OpenAPI document points into the document, not into this schema)."""
    schema = model.model_json_schema(mode="validation")
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(definitions[node["$ref"].rsplit("/", 1)[1]])
            return {key: inline(value) for key, value in node.items()}
        return [inline(item) for item in node] if isinstance(node, list) else node

    content = {"application/json": {"schema": inline(schema)}}
    return {"requestBody": {"required": True, "content": content}}


@router.get(
    "",
    response_class=ExactJSONResponse,
    summary="The account's active API keys, with their usage",
    responses={200: {"model": models.KeyList}, **error_responses(401, 429, 500, 503)},
)
async def list_keys(caller: AdminCaller, database: DatabaseDep) -> ExactJSONResponse:
    rows = await keys.list_keys(database, caller.account_id, active_only=True)
    return ExactJSONResponse({"object": "list", "data": await _with_usage(database, caller, rows)})


@router.get(
    "/rate_limits",
    response_class=ExactJSONResponse,
    summary="What the calling key may do now (any key, about itself)",
    responses={200: {"model": models.Status}, **error_responses(401, 429, 500, 503)},
)
async def rate_limits(caller: AnyCaller, database: DatabaseDep,
                      settings: SettingsDep) -> ExactJSONResponse:
    status = await key_status(database, caller.key_id, now_ms())
    per_minute = settings.rate_limit_per_minute
    limits = [{"apiModelId": ANY_MODEL, "rateLimits": [{"amount": per_minute, "type": "RPM"}]}]
    return ExactJSONResponse({"data": {
        "accessPermitted": status.access_permitted,
        "apiTier": {"id": RATE_LIMIT_TIER, "isCharged": True},
        "balances": status.balances,
        "keyExpiration": moment(status.key.expires_ms),
        "nextEpochBegins": format_ms(status.next_epoch_ms),
        "rateLimits": limits if per_minute else [],
    }})


@router.get(
    "/rate_limits/log",
    response_class=ExactJSONResponse,
    summary="The account's last 50 refusals by the per-key rate limit, newest first",
    responses={200: {"model": models.RefusalList}, **error_responses(401, 429, 500, 503)},
)
async def rate_limit_log(caller: AdminCaller, database: DatabaseDep) -> ExactJSONResponse:
    refusals = await newest_refusals(database, caller.account_id)
    return ExactJSONResponse({"object": "list", "data": [
        {"apiKeyId": r.api_key_id, "modelId": r.model_id, "rateLimitTier": r.rate_limit_tier,
         "rateLimitType": r.rate_limit_type, "timestamp": format_ms(r.ts_ms)}
        for r in refusals
    ]})


@router.get(
    "/{key_id}",
    response_class=ExactJSONResponse,
    summary="One of the account's keys, with its usage",
    responses={200: {"model": models.OneKey}, **error_responses(401, 404, 429, 500, 503)},
)
async def get_key(key_id: str, caller: AdminCaller, database: DatabaseDep) -> ExactJSONResponse:
    row = await keys.get_key(database, key_id, caller.account_id)
    return ExactJSONResponse({"data": (await _with_usage(database, caller, [row]))[0]})


@router.post(
    "",
    response_class=ExactJSONResponse,
    summary="Create a key; the answer holds its secret, shown once",
    openapi_extra=_body_schema(CreateKeyBody),
    responses={200: {"model": models.Created}, **error_responses(400, 401, 413, 429, 500, 503)},
)
@wire_names(KEY_FIELDS)
async def create_key(
    caller: AdminCaller, database: DatabaseDep, request: Request,
    limiter: Annotated[RateLimiter, Depends(_creation_limiter)],
) -> ExactJSONResponse:
    await limiter.check(f"key-creations:{caller.account_id}")
    body = await read_small(request, CreateKeyBody)
    created = await keys.create_key(database, caller.account_id, KeyType(body.apiKeyType),
                                    options=body.to_options())
    return ExactJSONResponse({"success": True, "data": created_to_wire(created)})


@router.patch(
    "",
    response_class=ExactJSONResponse,
    summary="Change a key's description, expiry, limits, limit period or model privacy",
    openapi_extra=_body_schema(UpdateKeyBody),
    responses={200: {"model": models.Updated}, **error_responses(400, 401, 413, 429, 500, 503)},
)
@wire_names(KEY_FIELDS)
async def update_key(caller: AdminCaller, database: DatabaseDep,
                     request: Request) -> ExactJSONResponse:
    body = await read_small(request, UpdateKeyBody)
    try:
        row = await keys.update_key(database, body.id, body.to_update(), caller.account_id)
    except NotFound:
        raise InvalidInput.single("id", UNKNOWN_KEY) from None
    return ExactJSONResponse({"success": True, "data": key_to_wire(row)})


@router.delete(
    "",
    response_class=ExactJSONResponse,
    summary="Revoke a key (not the one making the call)",
    responses={200: {"model": models.Success}, **error_responses(400, 401, 429, 500, 503)},
)
async def revoke_key(caller: AdminCaller, database: DatabaseDep,
                     id: Annotated[str | None, Query()] = None) -> ExactJSONResponse:
    if not id:
        raise InvalidInput.single("id", "is required")
    try:
        await keys.revoke_key(database, id, account_id=caller.account_id,
                              caller_key_id=caller.key_id)
    except NotFound:
        raise InvalidInput.single("id", UNKNOWN_KEY) from None
    return ExactJSONResponse({"success": True})


async def _with_usage(
    database: Database, caller: Caller, rows: list[KeyRow]
) -> list[dict[str, Any]]:
    usage = await usage_of_account_keys(database, caller.account_id, rows, now_ms())
    return [key_to_wire(row, usage[row.id]) for row in rows]
