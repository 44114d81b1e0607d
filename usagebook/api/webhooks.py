"""/api/v1/webhooks: an account's webhook endpoints, their delivery log and replays (ADMIN key,
the caller's account only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from usagebook.api.body import read_small
from usagebook.api.deps import AdminCaller, DatabaseDep, SettingsDep
from usagebook.api.exact_json import ExactJSONResponse
from usagebook.api.field_names import wire_names
from usagebook.api.schemas import error_responses
from usagebook.api.webhook_schemas import (
    INVALID_BODY,
    WEBHOOK_FIELDS,
    CreatedWebhook,
    Deliveries,
    NewWebhook,
    Queued,
    Replay,
    Secret,
    Webhook,
    WebhookChange,
    Webhooks,
    delivery_to_wire,
    documented_body,
    webhook_to_wire,
)
from usagebook.errors import InvalidInput
from usagebook.ledger import webhooks
from usagebook.ledger.webhooks import EndpointChange
from usagebook.timeutil import parse_date_time, to_ms

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])
_ERRORS = error_responses(400, 401, 404, 429, 500, 503)
_BODY_ERRORS = error_responses(400, 401, 404, 413, 429, 500, 503)


@router.post("", status_code=201, response_class=ExactJSONResponse,
             summary="Register a webhook endpoint (its secret is shown only in this answer)",
             openapi_extra=documented_body(NewWebhook),
             responses={201: {"model": CreatedWebhook}, **_BODY_ERRORS})
@wire_names(WEBHOOK_FIELDS)
async def create_webhook(request: Request, caller: AdminCaller, database: DatabaseDep,
                         settings: SettingsDep) -> ExactJSONResponse:
    body = await read_small(request, NewWebhook, INVALID_BODY)
    row = await webhooks.create_endpoint(
        database, caller.account_id, body.url, body.eventTypes, body.description,
        allow_private=settings.webhook_allow_private)
    return ExactJSONResponse(webhook_to_wire(row, secret=True), status_code=201)


@router.get("", response_class=ExactJSONResponse, summary="The account's webhook endpoints",
            responses={200: {"model": Webhooks}, **_ERRORS})
async def list_webhooks(caller: AdminCaller, database: DatabaseDep) -> ExactJSONResponse:
    rows = await webhooks.list_endpoints(database, caller.account_id)
    return ExactJSONResponse({"data": [webhook_to_wire(row) for row in rows]})


@router.get("/{webhook_id}", response_class=ExactJSONResponse, summary="One webhook endpoint",
            responses={200: {"model": Webhook}, **_ERRORS})
async def get_webhook(webhook_id: str, caller: AdminCaller,
                      database: DatabaseDep) -> ExactJSONResponse:
    row = await webhooks.get_endpoint(database, caller.account_id, webhook_id)
    return ExactJSONResponse(webhook_to_wire(row))


@router.patch("/{webhook_id}", response_class=ExactJSONResponse,
              summary="Change an endpoint's URL, event types, description or enabled state",
              openapi_extra=documented_body(WebhookChange),
              responses={200: {"model": Webhook}, **_BODY_ERRORS})
@wire_names(WEBHOOK_FIELDS)
async def update_webhook(webhook_id: str, request: Request, caller: AdminCaller,
                         database: DatabaseDep, settings: SettingsDep) -> ExactJSONResponse:
    body = await read_small(request, WebhookChange, INVALID_BODY)
    given = body.model_fields_set
    if "url" in given and body.url is None:
        raise InvalidInput.single("url", "must be a URL, not null")
    if "enabled" in given and body.enabled is None:
        raise InvalidInput.single("enabled", "must be true or false, not null")
    change = EndpointChange(url=body.url, event_types=body.eventTypes, enabled=body.enabled,
                            **({"description": body.description} if "description" in given
                               else {}))
    row = await webhooks.update_endpoint(database, caller.account_id, webhook_id, change,
                                         allow_private=settings.webhook_allow_private)
    return ExactJSONResponse(webhook_to_wire(row))


@router.delete("/{webhook_id}", status_code=204, response_class=Response,
               summary="Delete an endpoint and its delivery log",
               responses={204: {"description": "Deleted"}, **_ERRORS})
async def delete_webhook(webhook_id: str, caller: AdminCaller, database: DatabaseDep) -> Response:
    await webhooks.delete_endpoint(database, caller.account_id, webhook_id)
    return Response(status_code=204)


@router.post("/{webhook_id}/rotate-secret", response_class=ExactJSONResponse,
             summary="A new secret; for 24 hours both the old and the new one sign",
             responses={200: {"model": Secret}, **_ERRORS})
async def rotate_secret(webhook_id: str, caller: AdminCaller,
                        database: DatabaseDep) -> ExactJSONResponse:
    secret = await webhooks.rotate_secret(database, caller.account_id, webhook_id)
    return ExactJSONResponse({"secret": secret})


@router.get("/{webhook_id}/deliveries", response_class=ExactJSONResponse,
            summary="The endpoint's delivery log: one row per event, newest first",
            responses={200: {"model": Deliveries}, **_ERRORS})
async def list_deliveries(
    webhook_id: str, caller: AdminCaller, database: DatabaseDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> ExactJSONResponse:
    rows = await webhooks.list_deliveries(database, caller.account_id, webhook_id, limit)
    return ExactJSONResponse({"data": [delivery_to_wire(row) for row in rows]})


@router.post("/{webhook_id}/replay", status_code=202, response_class=ExactJSONResponse,
             summary="Deliver again (same webhook-id) one event, or the events of a time range",
             openapi_extra=documented_body(Replay),
             responses={202: {"model": Queued}, **_BODY_ERRORS})
@wire_names(WEBHOOK_FIELDS)
async def replay(webhook_id: str, request: Request, caller: AdminCaller,
                 database: DatabaseDep) -> ExactJSONResponse:
    body = await read_small(request, Replay, INVALID_BODY)
    queued = await webhooks.replay(
        database, caller.account_id, webhook_id, event_id=body.eventId,
        since_ms=_instant("since", body.since), until_ms=_instant("until", body.until))
    return ExactJSONResponse({"queued": queued}, status_code=202)


def _instant(name: str, text: str | None) -> int | None:
    if text is None:
        return None
    try:
        # A bound between two milliseconds: `since` admits, `until` excludes, from the next one.
        return to_ms(parse_date_time(text), round_up=True)
    except (ValueError, OverflowError) as exc:
        raise InvalidInput.single(name, str(exc)) from None
