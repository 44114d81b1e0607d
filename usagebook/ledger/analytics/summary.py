"""Usage analytics: totals by day, model and API key over whole UTC days, from the rollups,
or over the local days of an IANA zone when one is given (`summary_local`).

An answer is cached, as the caller renders it, per account, zone and resolved days for 10
minutes, but never past the end of the day (in that zone) it was made on (today's figures keep
growing). The cached part is everything except the period's label, so `7d` and the same days
asked by date share one entry. Without a zone the cache key is exactly what it was before zones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import localcontext
from zoneinfo import ZoneInfo

from usagebook import metrics
from usagebook.errors import InvalidInput, ProblemCollector
from usagebook.ledger.analytics import report
from usagebook.ledger.analytics.cache import Cache
from usagebook.ledger.analytics.period import Period, resolve_period
from usagebook.ledger.analytics.report import Report
from usagebook.ledger.analytics.summary_local import compute_local
from usagebook.ledger.local_time import local_date, next_day_start_ms, parse_zone
from usagebook.money import Currency
from usagebook.store import analytics as store
from usagebook.store.analytics import DayRange
from usagebook.store.engine import Database, for_lagging_reads
from usagebook.timeutil import MS_PER_DAY, day_of_ms, day_start_ms, now_ms

CACHE_TTL_MS = 600_000
# Sums of nine-place amounts times unit multipliers need more than 28 digits to stay exact.
_PRECISION = 80


@dataclass(frozen=True)
class AnalyticsQuery:
    account_id: str
    lookback: str | None = None
    start_date: str | None = None
    end_date: str | None = None
    time_zone: str | None = None


@dataclass(frozen=True)
class Rendered:
    """An answer: the period's label as asked (never cached) and `render` of its report, made
    once and then served from the cache as is."""

    lookback: str
    body: bytes


async def usage_analytics(
    db: Database, cache: Cache, query: AnalyticsQuery, *, limit_seconds: float,
    render: Callable[[Report], bytes],
) -> Rendered:
    """The answer for `query`, its report rendered by `render`. Raises InvalidInput for bad
    parameters and QueryTimeout when the queries overrun `limit_seconds`."""
    now = now_ms()
    problems = ProblemCollector()
    zone = None if query.time_zone is None else parse_zone(query.time_zone, problems)
    today = day_of_ms(now) if zone is None else local_date(now, zone)
    try:
        period = resolve_period(today, query.lookback, query.start_date, query.end_date)
    except InvalidInput as exc:  # name every bad parameter at once, the zone included
        for field, messages in problems.problems.items():
            exc.problems.setdefault(field, []).extend(messages)
        raise
    problems.raise_if_any()
    cache_key = analytics_cache_key(query.account_id, period, query.time_zone)
    cached = await cache.get(cache_key)
    metrics.count_cache(hit=cached is not None)
    if cached is None:
        if zone is None:
            answer = await compute(db, query.account_id, period, limit_seconds)
        else:
            answer = await compute_local(db, query.account_id, period, zone, limit_seconds)
        cached = render(answer)
        await cache.set(cache_key, cached, cache_ttl_ms(now, zone))
    return Rendered(period.label, cached)


def analytics_cache_key(account_id: str, period: Period, time_zone: str | None = None) -> str:
    if time_zone is None:
        return f"analytics:{account_id}:{period.first}:{period.last}"
    return f"analytics:{account_id}:{period.first}:{period.last}:{time_zone}"


def cache_ttl_ms(now: int, zone: ZoneInfo | None = None) -> int:
    """Ten minutes, or less: a cached answer never outlives the day (UTC, or local in `zone`)
    it was made on."""
    end_of_day = (now // MS_PER_DAY + 1) * MS_PER_DAY if zone is None \
        else next_day_start_ms(now, zone)
    return min(CACHE_TTL_MS, end_of_day - now)


async def compute(
    db: Database, account_id: str, period: Period, limit_seconds: float
) -> Report:
    """Every figure but the period's label, from one consistent snapshot of the rollups (of the read
    standby when one is configured and close enough)."""
    db = await for_lagging_reads(db)
    days = [(day.isoformat(), day_start_ms(day)) for day in period.days]
    where = DayRange(account_id, days[0][1], days[-1][1])
    with localcontext(prec=_PRECISION):
        async with store.analytics_snapshot(db, limit_seconds) as conn:
            totals = await store.period_totals(conn, where)
            models, keys = report.model_lines(totals.by_sku), report.key_lines(totals.by_key)
            top_models, top_keys = models[: report.TOP], keys[: report.TOP]
            model_of = {str(line.ident): line.name for line in top_models}
            key_of = {line.ident: line.name for line in top_keys}
            daily = await store.daily_spend(conn, where, Currency.DIEM.value, model_of, key_of)
        day_ms = [ms for _, ms in days]
        return Report(
            by_date=report.by_date(days, daily.by_currency),
            models=models,
            model_daily=report.daily_chart(day_ms, top_models, daily.by_model, model_of),
            top_models=[line.name for line in top_models],
            keys=keys,
            key_daily=report.daily_chart(day_ms, top_keys, daily.by_key, key_of),
            top_keys=[line.name for line in top_keys],
        )
