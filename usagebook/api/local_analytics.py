"""GET /api/v1/usage/analytics: spend over time in the customer's zone, by any dimension
(usagebook's own; ADMIN key)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import Field, WithJsonSchema

from usagebook.api.deps import AdminCaller, DatabaseDep, SettingsDep
from usagebook.api.exact_json import ExactJSONResponse
from usagebook.api.field_names import wire_names
from usagebook.api.ignored_params import QUERY_PREFIXES
from usagebook.api.schemas import ExactNumber, error_responses
from usagebook.api.tag_params import PREFIX, parse_tag_filters
from usagebook.errors import InvalidInput, ProblemCollector
from usagebook.ledger.analytics.series import SeriesReport, local_analytics
from usagebook.ledger.analytics.series_query import (
    CURRENCIES,
    GRANULARITIES,
    GROUPS,
    MAX_DAYS,
    MAX_HOUR_DAYS,
    RawAnalyticsQuery,
    check_query,
)
from usagebook.ledger.events import TAG_VALUE
from usagebook.strict_model import StrictModel

router = APIRouter(prefix="/api/v1/usage", tags=["analytics"])

# The parameter names for RawAnalyticsQuery's fields: every one its messages refer to, those
# spelt alike too. A groupBy value names one of the filters, spelt the same way.
SERIES_FIELDS = {"start": "start", "end": "end", "time_zone": "timeZone", "group_by": "groupBy",
                 "model": "model", "api_key": "apiKey", "sku": "sku", "currency": "currency"}
_GROUP_TO_WIRE = {name: SERIES_FIELDS[name] for name in GROUPS}
_GROUP_FROM_WIRE = {wire: name for name, wire in _GROUP_TO_WIRE.items()}


class Series(StrictModel):
    group: str | None = Field(description="The group's value; null: not grouped, or entries "
                                          "without the grouped tag")
    usd: list[ExactNumber] = Field(description="USD + BUNDLED_CREDITS spend per bucket")
    diem: list[ExactNumber] = Field(description="DIEM spend per bucket")
    units: list[ExactNumber] = Field(description="Units in each SKU's unit type, per bucket")


class Totals(StrictModel):
    usd: ExactNumber
    diem: ExactNumber


class LocalAnalytics(StrictModel):
    timeZone: str = Field(examples=["Asia/Kolkata"])
    granularity: str = Field(json_schema_extra={"enum": list(GRANULARITIES)})
    start: str = Field(examples=["2026-03-01"])
    end: str = Field(examples=["2026-03-31"])
    groupBy: str | None
    buckets: list[str] = Field(description="Each bucket's local start with its offset",
                               examples=[["2026-03-08T00:00:00-05:00"]])
    series: list[Series] = Field(description="By total spend, highest first, ties by name")
    totals: Totals


# Raw text, checked together by the ledger (every bad parameter named at once); the schemas
# say what each takes.
_DATE = WithJsonSchema({"type": "string", "format": "date"})
_TEXT = WithJsonSchema({"type": "string"})
StartParam = Annotated[str | None, Query(description="First local date (required)"), _DATE]
EndParam = Annotated[str | None, Query(
    description=f"Last local date (required); at most {MAX_DAYS} days from start, both "
                f"included ({MAX_HOUR_DAYS} for hours)"), _DATE]
ZoneParam = Annotated[str | None, Query(description="IANA time zone, default UTC"), _TEXT]
GranularityParam = Annotated[str | None, Query(description="Default day; weeks from Monday"),
                             WithJsonSchema({"type": "string", "enum": list(GRANULARITIES)})]
GroupParam = Annotated[str | None, Query(description=", ".join(_GROUP_FROM_WIRE)
                                                     + " or tag:<key>"),
                       _TEXT]
ModelParam = Annotated[str | None, Query(description="Only this model (catalog model id)"),
                       _TEXT]
KeyParam = Annotated[str | None, Query(description="Only this API key id"), _TEXT]
SkuParam = Annotated[str | None, Query(description="Only this SKU"), _TEXT]
CurrencyParam = Annotated[str | None, Query(description="Only this (the entry's own) currency"),
                          WithJsonSchema({"type": "string", "enum": list(CURRENCIES)})]


_TAG_DOC = {
    QUERY_PREFIXES: [PREFIX],
    "parameters": [{
        "name": "tag.project", "in": "query", "required": False,
        "schema": {"type": "string", "pattern": TAG_VALUE},
        "description": "`tag.<key>=<value>` for any tag key (up to 8, all must hold): only "
                       "entries recorded with that tag.",
    }],
}


@router.get(
    "/analytics",
    response_class=ExactJSONResponse,
    summary="Spend over time in a time zone, by model, key, SKU, currency or tag",
    openapi_extra=_TAG_DOC,
    responses={200: {"model": LocalAnalytics, "description": "Every bucket, zeros included"},
               **error_responses(400, 401, 429, 500, 503, 504)},
)
@wire_names(SERIES_FIELDS)
async def get_local_analytics(
    request: Request,
    caller: AdminCaller,
    database: DatabaseDep,
    settings: SettingsDep,
    start: StartParam = None,
    end: EndParam = None,
    timeZone: ZoneParam = None,
    granularity: GranularityParam = None,
    groupBy: GroupParam = None,
    model: ModelParam = None,
    apiKey: KeyParam = None,
    sku: SkuParam = None,
    currency: CurrencyParam = None,
) -> ExactJSONResponse:
    tag_problems = ProblemCollector()
    tags = parse_tag_filters(request.query_params.multi_items(), tag_problems)
    query = RawAnalyticsQuery(caller.account_id, start, end, timeZone, granularity,
                              _group_from_wire(groupBy), model, apiKey, sku, currency, tags)
    if tag_problems.problems:
        raise _every_problem(query, tag_problems)
    answer = await local_analytics(database, query,
                                   limit_seconds=settings.query_timeout_seconds)
    return ExactJSONResponse(series_to_wire(answer))


def _every_problem(query: RawAnalyticsQuery, tag_problems: ProblemCollector) -> InvalidInput:
    """Bad tag filters with the ledger's own problems of the same request, the ledger's first,
    so one answer names every bad parameter."""
    try:
        check_query(query)
    except InvalidInput as found:
        return InvalidInput({**found.problems, **tag_problems.problems}, found.message,
                            found.as_sent | tag_problems.as_sent)
    return tag_problems.error()


def series_to_wire(report: SeriesReport) -> dict[str, Any]:
    query = report.query
    return {
        "timeZone": query.zone_name, "granularity": query.granularity,
        "start": query.start.isoformat(), "end": query.end.isoformat(),
        "groupBy": _GROUP_TO_WIRE.get(query.group_by, query.group_by) if query.group_by else None,
        "buckets": report.buckets,
        "series": [{"group": s.group, "usd": s.usd, "diem": s.diem, "units": s.units}
                   for s in report.series],
        "totals": {"usd": report.usd, "diem": report.diem},
    }


def _group_from_wire(group_by: str | None) -> str | None:
    """The field a groupBy value names; "" (refused by the ledger, named as groupBy) for a
    value that names none, so a field's own name (`api_key`) is refused as it always was."""
    if group_by is None or group_by.startswith("tag:"):
        return group_by
    return _GROUP_FROM_WIRE.get(group_by, "")
