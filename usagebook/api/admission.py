"""POST /api/v1/usage/authorize: admission before an inference call (operator token only), and
POST /api/v1/usage/authorize/{holdId}/release: ending a hold whose call recorded nothing.

The body is read as recording reads its own (exact numbers, strict JSON); the domain decides
(`ledger.admission`); this module only writes the answer: the hold, plus the key and account
it was granted to when the caller named the key by its secret.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from usagebook.api.authorize_wire import AUTHORIZE_FIELDS, AuthorizeBody, parse_authorize
from usagebook.api.client_address import address_of
from usagebook.api.deps import DatabaseDep, Limiter, Refusals
from usagebook.api.exact_json import ExactJSONResponse
from usagebook.api.field_names import wire_names
from usagebook.api.recording import Operator, json_body
from usagebook.api.schemas import ExactNumber, StoredCurrency, Timestamp, error_responses
from usagebook.errors import NotAuthenticated
from usagebook.ledger.admission import Grant, authorize
from usagebook.ledger.ratelimit import AddressGuard
from usagebook.ledger.settlement import release_hold
from usagebook.strict_model import StrictModel
from usagebook.timeutil import format_ms

router = APIRouter(prefix="/api/v1/usage", tags=["recording"])


class HoldAnswer(StrictModel):
    holdId: str
    amount: ExactNumber
    currency: StoredCurrency
    expiresAt: Timestamp
    apiKeyId: str | None = None
    accountId: str | None = None


_REQUEST_BODY = {
    "required": True,
    "content": {"application/json": {
        "schema": AuthorizeBody.model_json_schema(by_alias=True, mode="validation")
    }},
}


@router.post(
    "/authorize",
    response_class=ExactJSONResponse,
    summary="Reserve an inference call's estimated cost (a hold), or refuse it (402)",
    openapi_extra={"requestBody": _REQUEST_BODY},
    responses={200: {"model": HoldAnswer},
               **error_responses(400, 401, 402, 409, 413, 429, 500, 503)},
)
@wire_names(AUTHORIZE_FIELDS)
async def authorize_call(
    _: Operator,
    request: Request,
    database: DatabaseDep,
    limiter: Limiter,
    refusals: Refusals,
) -> ExactJSONResponse:
    body = await json_body(request)
    if not (isinstance(body, dict) and "apiKey" in body):
        grant = await authorize(database, limiter, parse_authorize(body), refusals=refusals)
        return ExactJSONResponse(grant_to_wire(grant))
    # A customer's secret, relayed by a gateway: an unknown one counts against the end
    # customer's address (`clientAddress`, else whoever called), which, once over the limit of
    # failed authentications, is refused before the secret is looked up.
    guard: AddressGuard = request.app.state.failed_auth_guard
    named = body.get("clientAddress")
    address = named[:64] if isinstance(named, str) and named else address_of(request)
    guard.check(address)
    try:
        grant = await authorize(database, limiter, parse_authorize(body), refusals=refusals)
    except NotAuthenticated:
        await guard.failed(address)
        raise
    return ExactJSONResponse(grant_to_wire(grant))


def grant_to_wire(grant: Grant) -> dict[str, object]:
    hold = grant.hold
    answer: dict[str, object] = {
        "holdId": hold.id,
        "amount": hold.amount,
        "currency": hold.currency,
        "expiresAt": format_ms(hold.expires_ms),
    }
    if grant.by_secret:
        answer["apiKeyId"] = hold.api_key_id
        answer["accountId"] = hold.account_id
    return answer


class ReleaseAnswer(StrictModel):
    holdId: str
    released: bool


@router.post(
    "/authorize/{holdId}/release",
    response_class=ExactJSONResponse,
    summary="End a hold without charging (its inference call failed and recorded nothing)",
    description="Idempotent: `released` is true when this call ended a live hold, false when "
                "the hold had already ended (settled by recording, released, or expired), "
                "which it leaves as it is. An unknown hold: 404.",
    responses={200: {"model": ReleaseAnswer}, **error_responses(401, 404, 500, 503)},
)
async def release_call(_: Operator, holdId: str, database: DatabaseDep
                       ) -> ExactJSONResponse:
    outcome = await release_hold(database, holdId)
    return ExactJSONResponse({"holdId": outcome.hold.id, "released": outcome.released})
