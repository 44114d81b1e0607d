"""GET /api/v1/billing/usage-history: the ledger as a signed cursor walk (Venice-compatible)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from pydantic import BeforeValidator, Field
from starlette.responses import Response

from usagebook.api import entry_csv
from usagebook.api.deps import AdminCaller, DatabaseDep, SettingsDep
from usagebook.api.entry_json import entries_json
from usagebook.api.exact_json import ExactJSONResponse
from usagebook.api.field_names import wire_names
from usagebook.api.ignored_params import QUERY_PREFIXES
from usagebook.api.negotiation import CSV, choose_media_type
from usagebook.api.schemas import StoredCurrency, UsageEntry, error_responses
from usagebook.api.tag_params import PREFIX, parse_tag_filters
from usagebook.api.usage import TEXT_OF
from usagebook.api.usage_params import iso_date_time_text, whole_number_text
from usagebook.errors import ProblemCollector
from usagebook.ledger.cursors import MAX_TAG_FILTERS
from usagebook.ledger.events import TAG_VALUE
from usagebook.ledger.history import MAX_PAGE_SIZE, MIN_PAGE_SIZE, HistoryQuery, walk_history
from usagebook.strict_model import StrictModel
from usagebook.timeutil import now_ms

router = APIRouter(prefix="/api/v1/billing", tags=["billing"])

CURSOR_PATTERN = r"^[A-Za-z0-9_-]+$"
IsoText = BeforeValidator(iso_date_time_text)  # date-time text only, never epoch numbers
WholeNumber = BeforeValidator(whole_number_text)  # ASCII digits only, never 1_0 or ' 10'
CURSOR_MAX_LENGTH = 512
# The `tag.<key>=<value>` family, read from the request itself; documented by one example.
TAG_FILTER_DOC = {
    QUERY_PREFIXES: [PREFIX],
    "parameters": [{
        "name": "tag.project", "in": "query", "required": False,
        "schema": {"type": "string", "pattern": TAG_VALUE},
        "description": f"`tag.<key>=<value>` (any tag key; at most {MAX_TAG_FILTERS}, all must "
                       "hold): only entries recorded with that tag. First page only; the "
                       "cursor carries it. The answer's shape is unchanged (tags never appear).",
    }],
}


class UsageHistoryPage(StrictModel):

    data: list[UsageEntry] = Field(max_length=MAX_PAGE_SIZE,
                                   description="Entries in ascending timestamp order")
    nextCursor: str | None = Field(
        pattern=CURSOR_PATTERN, max_length=CURSOR_MAX_LENGTH,
        description="Send as `cursor` for the next page; null on the last page.",
    )


# The contract's parameter names for HistoryQuery's fields (those spelt alike are left out).
HISTORY_FIELDS = {"start": "startTimestamp", "end": "endTimestamp", "page_size": "pageSize",
                  "tags": f"{PREFIX}<key>"}


@router.get(
    "/usage-history",
    response_class=ExactJSONResponse,
    summary="Usage ledger as a cursor walk",
    openapi_extra=TAG_FILTER_DOC,
    responses={
        200: {"model": UsageHistoryPage,
              "content": {"text/csv": {"schema": {"type": "string"}}},
              "headers": {"x-next-cursor": {"schema": {"type": "string"}, "description":
                                            "CSV only: the next cursor; absent on the last page"}},
              "description": "A page of entries, as JSON or CSV by the Accept header"},
        **error_responses(400, 401, 406, 429, 500, 503),
    },
)
@wire_names(HISTORY_FIELDS)
async def get_usage_history(
    request: Request,
    caller: AdminCaller,
    database: DatabaseDep,
    settings: SettingsDep,
    cursor: Annotated[str | None, Query(pattern=CURSOR_PATTERN, max_length=CURSOR_MAX_LENGTH,
                                        description="From the previous page; sent alone")] = None,
    currency: StoredCurrency | None = None,
    startTimestamp: Annotated[datetime | None, Query(description="Inclusive"), IsoText] = None,
    endTimestamp: Annotated[datetime | None, Query(description="Exclusive"), IsoText] = None,
    pageSize: Annotated[int | None, Query(ge=MIN_PAGE_SIZE, le=MAX_PAGE_SIZE,
                                          description="Default 1000"), WholeNumber] = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    media_type = choose_media_type(accept)
    assert settings.secret_key is not None  # Settings.validated() guarantees one
    problems = ProblemCollector()
    tags = parse_tag_filters(request.query_params.multi_items(), problems, MAX_TAG_FILTERS)
    problems.raise_if_any()
    query = HistoryQuery(caller.account_id, cursor, currency, startTimestamp, endTimestamp,
                         pageSize, tags)
    page = await walk_history(database, query, settings.secret_key, TEXT_OF[media_type])
    if media_type == CSV:
        headers = {"Content-Disposition": f"attachment; filename={_csv_file_name()}"}
        if page.next_cursor is not None:
            headers["x-next-cursor"] = page.next_cursor
        return Response(entry_csv.entries_csv(page.entries, page.text), headers=headers,
                        media_type="text/csv; charset=utf-8")
    body = {"data": entries_json(page.entries, page.text),
            "nextCursor": page.next_cursor}
    return ExactJSONResponse(body)


def _csv_file_name() -> str:
    # billing-usage-history-<YYYYMMDDTHHMMSSmmmZ>.csv, the moment the page was made
    ms = now_ms()
    stamp = datetime.fromtimestamp(ms // 1000, tz=UTC)
    return f"billing-usage-history-{stamp:%Y%m%dT%H%M%S}{ms % 1000:03d}Z.csv"
