"""POST /api/v1/usage/events: the inference platform records usage (operator token only).

The body is read here (the request middleware holds it to `Settings.max_body_bytes`, 413
beyond) and parsed with JSON numbers kept as exact Decimals (a float would turn 0.1 into
0.1000000000000000055...); the domain does the rest.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from usagebook.api.body import read_json
from usagebook.api.deps import DatabaseDep, SettingsDep
from usagebook.api.entry_json import entry_to_wire
from usagebook.api.event_wire import WIRE_NAMES, UsageEvent, parse_batch
from usagebook.api.exact_json import ExactJSONResponse
from usagebook.api.field_names import wire_names
from usagebook.api.schemas import UsageEntry, error_responses
from usagebook.errors import NotAuthenticated, ProblemCollector
from usagebook.ledger.events import MAX_EVENTS
from usagebook.ledger.recording import EventResult, record_live
from usagebook.ledger.records import Database
from usagebook.strict_model import StrictModel

OPERATOR_REQUIRED = "Invalid or missing operator token"
RECORDING_DISABLED = ("Recording is disabled on this server: it was started without "
                      "USAGEBOOK_OPERATOR_TOKEN")

router = APIRouter(prefix="/api/v1/usage", tags=["recording"])
_operator_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="OperatorToken",
    description="The operator token (USAGEBOOK_OPERATOR_TOKEN); customer API keys are refused.",
)


async def operator(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_operator_bearer)],
) -> None:
    """Admit only the operator token. Without one configured, recording is refused, and the
    401 says so (a caller cannot fix that by trying tokens); a wrong token is never described."""
    expected = settings.operator_token
    if not expected:
        raise NotAuthenticated(RECORDING_DISABLED)
    given = credentials.credentials if credentials else ""
    # compare_digest takes the same time wherever the first difference is.
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise NotAuthenticated(OPERATOR_REQUIRED)


Operator = Annotated[None, Depends(operator)]


class RecordResult(StrictModel):
    index: int
    status: Literal["recorded", "duplicate", "conflict"]
    entry: UsageEntry


class RecordAnswer(StrictModel):
    results: list[RecordResult]


_REQUEST_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["events"],
                "additionalProperties": False,
                "properties": {
                    "events": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": MAX_EVENTS,
                        "items": UsageEvent.model_json_schema(by_alias=True, mode="validation"),
                    }
                },
            }
        }
    },
}


@router.post(
    "/events",
    response_class=ExactJSONResponse,
    summary="Record usage events (idempotent, all or nothing)",
    openapi_extra={"requestBody": _REQUEST_BODY},
    responses={200: {"model": RecordAnswer}, **error_responses(400, 401, 413, 500, 503)},
)
@wire_names(WIRE_NAMES)
async def record_events(_: Operator, request: Request, database: DatabaseDep) -> ExactJSONResponse:
    body = await json_body(request)
    results = await record_body(database, body)
    return ExactJSONResponse(
        {
            "results": [
                {"index": r.index, "status": r.status, "entry": entry_to_wire(r.entry)}
                for r in results
            ]
        }
    )


async def record_body(db: Database, body: Any, received_ms: int | None = None
                      ) -> list[EventResult]:
    """Record the endpoint's `{"events": [...]}` body, read as strict JSON."""
    problems = ProblemCollector()
    return await record_live(db, parse_batch(body, problems), problems, received_ms)


async def json_body(request: Request) -> Any:
    return await read_json(request)
