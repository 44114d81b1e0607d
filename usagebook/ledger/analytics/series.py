"""Spend over time in the customer's own zone, by any dimension (GET /api/v1/usage/analytics).

Every figure is an exact sum of the matching entries in each local bucket: `store.bucket_sums`
reads the narrowest rollups that carry what the query filters and groups on (day, hour and
quarter-hour rollups for models, SKUs, keys and currencies; the quarter-hour tag rollup for one
tag key), and the entries themselves when no rollup does (two tag keys at once, or a tag with a
key). Grouped by a tag read from its rollup, the `null` group (entries without that tag) is the
total minus the tagged groups, per bucket and currency.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal, localcontext
from typing import Any

from usagebook.ledger.analytics.series_query import (
    AnalyticsQuery,
    RawAnalyticsQuery,
    buckets,
    check_query,
)
from usagebook.money import Currency
from usagebook.store.analytics import analytics_snapshot
from usagebook.store.bucket_sums import BucketQuery, BucketSum, Filters, bucket_sums, source_for
from usagebook.store.engine import Database

_PRECISION = 80  # as analytics.summary: sums of nine-place amounts times unit multipliers
_GROUPS = {None: None, "model": "model", "api_key": "api_key_id", "sku": "sku",
           "currency": "currency"}
_USD_LIKE = (Currency.USD.value, Currency.BUNDLED_CREDITS.value)


@dataclass
class Series:
    """One group's spend (USD + BUNDLED_CREDITS, and DIEM) and units (in each SKU's unit type)
    per bucket."""

    group: Any  # the group's value; None: not grouped, or entries without the grouped tag
    usd: list[Decimal]
    diem: list[Decimal]
    units: list[Decimal]
    total: Decimal = field(default=Decimal(0))


@dataclass(frozen=True)
class SeriesReport:
    """The answer: every bucket's local start (`buckets`, zeros included), one series per group
    by total spend, highest first, ties by name, and the totals over all of them."""

    query: AnalyticsQuery
    buckets: list[str]
    series: list[Series]
    usd: Decimal
    diem: Decimal


async def local_analytics(
    db: Database, raw: RawAnalyticsQuery, *, limit_seconds: float
) -> SeriesReport:
    """The answer to `raw`; InvalidInput for bad parameters, QueryTimeout past the limit."""
    query = check_query(raw)
    plan = buckets(query)
    sums = _bucket_query(query, plan.bounds)
    with localcontext(prec=_PRECISION):
        async with analytics_snapshot(db, limit_seconds) as conn:
            rows = await bucket_sums(conn, sums)
            if sums.group == "tag" and source_for(sums) == "tag":
                rows += _untagged(rows, await bucket_sums(conn, replace(
                    sums, group=None, group_tag=None)))
        series = _series(rows, len(plan.labels), grouped=query.group_by is not None)
        return SeriesReport(
            query, plan.labels, series,
            usd=sum((sum(s.usd, Decimal(0)) for s in series), Decimal(0)),
            diem=sum((sum(s.diem, Decimal(0)) for s in series), Decimal(0)))


def _bucket_query(query: AnalyticsQuery, bounds: list[int]) -> BucketQuery:
    tag = query.group_tag
    return BucketQuery(
        query.account_id, bounds, "tag" if tag else _GROUPS[query.group_by], tag,
        Filters(query.currency, query.sku, query.model, query.api_key, query.tags),
        unit_types=True, usd_like=True)


def _untagged(tagged: list[BucketSum], everything: list[BucketSum]) -> list[BucketSum]:
    """The `null` group: per bucket and currency, everything minus the tagged groups. Units
    of every entry are > 0, so zero units left means no entry without the tag."""
    left = {(row.bucket, row.currency): [row.amount, row.units] for row in everything}
    for row in tagged:
        figures = left[(row.bucket, row.currency)]
        figures[0] -= row.amount
        figures[1] -= row.units
    return [BucketSum(bucket, None, currency, amount, units)
            for (bucket, currency), (amount, units) in left.items() if units]


def _series(rows: list[BucketSum], count: int, *, grouped: bool) -> list[Series]:
    """One series per group with entries (one `null` series when not grouped), ranked by
    total spend, highest first, ties by name."""
    found: dict[Any, Series] = {}
    if not grouped:
        found[None] = _empty(None, count)
    for row in rows:
        line = found.get(row.group) or found.setdefault(row.group, _empty(row.group, count))
        spend = -row.amount
        if row.currency in _USD_LIKE:
            line.usd[row.bucket] += spend
        else:
            line.diem[row.bucket] += spend
        line.units[row.bucket] += row.units
        line.total += spend
    return sorted(found.values(),
                  key=lambda s: (-s.total, s.group is None, str(s.group or "")))


def _empty(group: Any, count: int) -> Series:
    return Series(group, [Decimal(0)] * count, [Decimal(0)] * count, [Decimal(0)] * count)
