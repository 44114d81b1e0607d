"""GET /billing/usage: the page-numbered usage ledger (Venice-compatible, deprecated there in
favour of /billing/usage-history), as JSON or CSV, scoped to the calling key's account."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Header
from starlette.responses import Response

from usagebook.api import entry_csv
from usagebook.api.deps import AdminCaller, DatabaseDep
from usagebook.api.entry_json import entries_json
from usagebook.api.exact_json import ExactJSONResponse
from usagebook.api.field_names import wire_names
from usagebook.api.negotiation import CSV, JSON, choose_media_type
from usagebook.api.schemas import UsagePage, error_responses
from usagebook.api.usage_params import (
    ApiKeyIdParam,
    CurrencyParam,
    EndDateParam,
    LimitParam,
    ModelIdParam,
    PageParam,
    SortOrderParam,
    StartDateParam,
    usage_query,
)
from usagebook.ledger.records import EntryText
from usagebook.ledger.usage import list_usage

# Venice's published schema for /billing/usage requires this exact text; clients may check it.
VENICE_USAGE_WARNING = (
    "This endpoint is deprecated and will be removed in a future release. Use GET "
    "/api/v1/billing/usage-history instead, which provides the same data with keyset pagination."
)

router = APIRouter(prefix="/api/v1/billing", tags=["billing"])
# The entries' wire text the database writes for each media type (restating entry_json and
# entry_csv in SQL: store.entry_text).
TEXT_OF = {JSON: EntryText.JSON, CSV: EntryText.CSV}

CSV_CONTENT = {"text/csv": {"schema": {"type": "string"}}}
PAGINATION_HEADERS = {
    name: {"schema": {"type": "integer"}}
    for name in ("x-pagination-limit", "x-pagination-page", "x-pagination-total",
                 "x-pagination-total-pages")
}


# The contract's parameter names for UsageQuery's fields (those spelt alike are left out).
USAGE_FIELDS = {"start": "startDate", "end": "endDate", "sort_order": "sortOrder",
                "api_key_id": "apiKeyId", "model_id": "modelId"}


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
@wire_names(USAGE_FIELDS)
async def get_usage(
    caller: AdminCaller,
    database: DatabaseDep,
    currency: CurrencyParam = None,
    startDate: StartDateParam = None,  # camelCase: the contract's parameter names
    endDate: EndDateParam = None,
    limit: LimitParam = None,
    page: PageParam = None,
    sortOrder: SortOrderParam = None,
    apiKeyId: ApiKeyIdParam = None,
    modelId: ModelIdParam = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    media_type = choose_media_type(accept)
    query = usage_query(caller.account_id, currency=currency, start_date=startDate,
                        end_date=endDate, limit=limit, page=page, sort_order=sortOrder,
                        api_key_id=apiKeyId, model_id=modelId)
    result = await list_usage(database, query, TEXT_OF[media_type])
    headers = {
        "x-pagination-limit": str(result.limit),
        "x-pagination-page": str(result.page),
        "x-pagination-total": str(result.total),
        "x-pagination-total-pages": str(result.total_pages),
    }
    if media_type == CSV:
        headers["Content-Disposition"] = "attachment; filename=billing_usage.csv"
        return Response(entry_csv.entries_csv(result.entries, result.text), headers=headers,
                        media_type="text/csv; charset=utf-8")
    body = {
        "warningMessage": VENICE_USAGE_WARNING,
        "data": entries_json(result.entries, result.text),
        "pagination": {"limit": result.limit, "page": _exact_int(result.page),
                       "total": result.total, "totalPages": result.total_pages},
    }
    return ExactJSONResponse(body, headers=headers)


def _exact_int(value: int) -> int | Decimal:
    # Any page >= 1 is valid; orjson refuses integers beyond 64 bits, a Decimal is written exactly.
    return value if value < 2**63 else Decimal(value)
