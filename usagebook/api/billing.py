"""Customer billing endpoints (Venice-compatible), all scoped to the calling key's account."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query
from starlette.responses import Response

from usagebook.api import csv
from usagebook.api.deps import AdminCaller, DatabaseDep
from usagebook.api.negotiation import CSV, choose_media_type
from usagebook.api.schemas import FilterCurrency, UsagePage, error_responses
from usagebook.api.wire import ExactJSONResponse, entry_to_wire
from usagebook.ledger.usage import DEFAULT_LIMIT, MAX_LIMIT, UsageQuery, list_usage

# Venice's published schema for /billing/usage requires this exact text; clients may check it.
VENICE_USAGE_WARNING = (
    "This endpoint is deprecated and will be removed in a future release. Use GET "
    "/api/v1/billing/usage-history instead, which provides the same data with keyset pagination."
)

router = APIRouter(prefix="/api/v1/billing", tags=["billing"])

CSV_CONTENT = {"text/csv": {"schema": {"type": "string"}}}
PAGINATION_HEADERS = {
    name: {"schema": {"type": "integer"}}
    for name in ("x-pagination-limit", "x-pagination-page", "x-pagination-total",
                 "x-pagination-total-pages")
}


@router.get(
    "/usage",
    response_class=ExactJSONResponse,
    summary="Page-numbered usage ledger",
    responses={
        200: {"model": UsagePage, "content": CSV_CONTENT, "headers": PAGINATION_HEADERS,
              "description": "A page of entries, as JSON or CSV by the Accept header"},
        **error_responses(400, 401, 406, 429, 500, 503),
    },
)
async def get_usage(
    caller: AdminCaller,
    database: DatabaseDep,
    currency: FilterCurrency | None = None,
    startDate: datetime | None = None,  # noqa: N803 - the contract's parameter names
    endDate: datetime | None = None,  # noqa: N803
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    page: Annotated[int, Query(ge=1)] = 1,
    sortOrder: Literal["asc", "desc"] = "desc",  # noqa: N803
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    media_type = choose_media_type(accept)
    result = await list_usage(
        database,
        UsageQuery(caller.account_id, currency, startDate, endDate, limit, page,
                   descending=sortOrder == "desc"),
    )
    headers = {
        "x-pagination-limit": str(result.limit),
        "x-pagination-page": str(result.page),
        "x-pagination-total": str(result.total),
        "x-pagination-total-pages": str(result.total_pages),
    }
    if media_type == CSV:
        headers["Content-Disposition"] = "attachment; filename=billing_usage.csv"
        return Response(csv.entries_csv(result.entries), headers=headers,
                        media_type="text/csv; charset=utf-8")
    body = {
        "warningMessage": VENICE_USAGE_WARNING,
        "data": [entry_to_wire(entry) for entry in result.entries],
        "pagination": {"limit": result.limit, "page": result.page, "total": result.total,
                       "totalPages": result.total_pages},
    }
    return ExactJSONResponse(body, headers=headers)
