"""GET /billing/usage-analytics: totals by day, model and API key (Venice-compatible)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field
from starlette.responses import Response

from usagebook.api.deps import AdminCaller, DatabaseDep, SettingsDep
from usagebook.api.exact_json import ExactJSONResponse, dumps
from usagebook.api.field_names import wire_names
from usagebook.api.schemas import ExactNumber, error_responses
from usagebook.ledger.analytics.cache import Cache
from usagebook.ledger.analytics.report import ChartDay, Line, Report
from usagebook.ledger.analytics.summary import AnalyticsQuery, usage_analytics
from usagebook.strict_model import StrictModel

router = APIRouter(prefix="/api/v1/billing", tags=["billing"])
CACHE_CONTROL = "private, max-age=600"


class DaySpend(StrictModel):
    date: str = Field(examples=["2026-06-15"])
    USD: ExactNumber
    DIEM: ExactNumber


class UsageTypeSpend(StrictModel):
    type: str
    usd: ExactNumber
    diem: ExactNumber
    units: ExactNumber


class ModelSpend(StrictModel):
    modelName: str
    unitType: str
    modelType: str | None
    totalUsd: ExactNumber
    totalDiem: ExactNumber
    totalUnits: ExactNumber
    breakdown: list[UsageTypeSpend] | None = Field(
        None, description="Only present when the model has more than one usage type.")


class KeySpend(StrictModel):
    apiKeyId: str | None
    description: str
    totalUsd: ExactNumber
    totalDiem: ExactNumber
    totalUnits: ExactNumber


class UsageAnalytics(StrictModel):
    lookback: str = Field(examples=["7d", "2026-06-01:2026-06-30"])
    byDate: list[DaySpend]
    byModel: list[ModelSpend]
    byModelDaily: list[dict[str, ExactNumber]] = Field(
        description='Per day: "date" (epoch ms of the UTC day, or of local midnight with '
                    'timeZone) and each top model\'s DIEM spend.')
    topModels: list[str]
    byKey: list[KeySpend]
    byKeyDaily: list[dict[str, ExactNumber]]
    topKeyNames: list[str]


# The contract's parameter names for the ledger AnalyticsQuery's fields: every one its
# messages refer to.
ANALYTICS_FIELDS = {"start_date": "startDate", "end_date": "endDate", "time_zone": "timeZone"}


def get_cache(request: Request) -> Cache:
    cache: Cache = request.app.state.analytics_cache
    return cache


@router.get(
    "/usage-analytics",
    response_class=ExactJSONResponse,
    summary="Usage totals by day, model and API key (cached for 10 minutes)",
    responses={
        200: {"model": UsageAnalytics, "description": "Totals for the period",
              "headers": {"Cache-Control": {"schema": {"type": "string"},
                                            "description": CACHE_CONTROL}}},
        **error_responses(400, 401, 429, 500, 503, 504),
    },
)
@wire_names(ANALYTICS_FIELDS)
async def get_usage_analytics(
    caller: AdminCaller,
    database: DatabaseDep,
    settings: SettingsDep,
    cache: Annotated[Cache, Depends(get_cache)],
    lookback: Annotated[str | None, Query(description="Nd, 1d..90d (more is clamped to 90d); "
                                                      "default 7d")] = None,
    startDate: Annotated[str | None, Query(description="YYYY-MM-DD, with endDate")] = None,
    endDate: Annotated[str | None, Query(description="YYYY-MM-DD, with startDate")] = None,
    timeZone: Annotated[str | None, Query(
        description="IANA time zone (e.g. Asia/Kolkata): days are then local days, and the "
                    "daily charts' dates the epoch ms of local midnight. Without it, UTC days.",
        examples=["Asia/Kolkata"])] = None,
) -> Response:
    query = AnalyticsQuery(caller.account_id, lookback, startDate, endDate, timeZone)
    answer = await usage_analytics(
        database, cache, query,
        limit_seconds=settings.query_timeout_seconds, render=render_report,
    )
    return Response(with_lookback(answer.lookback, answer.body), media_type="application/json",
                    headers={"Cache-Control": CACHE_CONTROL})


def render_report(report: Report) -> bytes:
    """The answer without `lookback`, as exact JSON: what the cache holds."""
    return dumps({
        "byDate": [{"date": day.date, "USD": day.usd, "DIEM": day.diem}
                   for day in report.by_date],
        "byModel": [_model(line) for line in report.models],
        "byModelDaily": [_chart_day(day) for day in report.model_daily],
        "topModels": report.top_models,
        "byKey": [_key(line) for line in report.keys],
        "byKeyDaily": [_chart_day(day) for day in report.key_daily],
        "topKeyNames": report.top_keys,
    })


def with_lookback(label: str, body: bytes) -> bytes:
    """The rendered object (never empty) with `lookback` put first, as in Venice's example."""
    return b'{"lookback":' + dumps(label) + b"," + body[1:]


def _model(line: Line) -> dict[str, Any]:
    wire: dict[str, Any] = {
        "modelName": line.name, "unitType": line.unit_type, "modelType": line.model_type,
        "totalUsd": line.spend.usd, "totalDiem": line.spend.diem, "totalUnits": line.spend.units,
    }
    if line.breakdown:
        wire["breakdown"] = [
            {"type": usage, "usd": part.usd, "diem": part.diem, "units": part.units}
            for usage, part in line.breakdown
        ]
    return wire


def _key(line: Line) -> dict[str, Any]:
    return {"apiKeyId": line.ident, "description": line.name, "totalUsd": line.spend.usd,
            "totalDiem": line.spend.diem, "totalUnits": line.spend.units}


def _chart_day(day: ChartDay) -> dict[str, Any]:
    # Chart names are never "date" (report's naming rule), so no name hides the day.
    return {"date": day.day_ms, **day.spend}
