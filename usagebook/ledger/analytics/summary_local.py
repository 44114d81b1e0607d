"""The usage-analytics answer over local days of an IANA zone (the query's `time_zone`).

The same figures and rules as the UTC answer (`summary.compute`), over the zone's local days:
the days' dates are local dates, the daily charts' days the epoch ms of each local midnight.
Sums come from `store.bucket_sums`, which adds the daily, hourly and quarter-hour rollups (and,
for a zone whose midnight is not on a quarter hour, the entries at the edges) so that every
figure is the exact sum of the entries in each local day.
"""

from __future__ import annotations

from decimal import localcontext
from zoneinfo import ZoneInfo

from usagebook.ledger.analytics import report
from usagebook.ledger.analytics.period import Period
from usagebook.ledger.analytics.report import Report
from usagebook.ledger.local_time import day_boundaries
from usagebook.money import Currency
from usagebook.store import analytics as store
from usagebook.store import skus as sku_store
from usagebook.store.analytics import Total
from usagebook.store.bucket_sums import BucketQuery, Filters, bucket_sums_together
from usagebook.store.engine import Database

_PRECISION = 80  # as analytics.summary: sums of nine-place amounts times unit multipliers


async def compute_local(
    db: Database, account_id: str, period: Period, zone: ZoneInfo, limit_seconds: float
) -> Report:
    """Every figure but the period's label, over local days, from one snapshot of the rollups."""
    bounds = day_boundaries(period.first, period.last, zone)
    days = [(day.isoformat(), start) for day, start in zip(period.days, bounds, strict=False)]
    day_ms = [start for _, start in days]
    diem = Filters(currency=Currency.DIEM.value)
    whole = [bounds[0], bounds[-1]]
    with localcontext(prec=_PRECISION):
        async with store.analytics_snapshot(db, limit_seconds) as conn:
            # Every sum in one statement (one round trip): the daily charts read every model
            # and key, and the top ones are picked from the totals afterwards.
            per_day, skus, keys, model_days, key_days = await bucket_sums_together(conn, [
                (BucketQuery(account_id, bounds), None),
                (BucketQuery(account_id, whole, "sku"), None),
                (BucketQuery(account_id, whole, "api_key_id"), "key"),
                (BucketQuery(account_id, bounds, "model", filters=diem), None),
                (BucketQuery(account_id, bounds, "api_key_id", filters=diem), "key"),
            ])
            catalog = await sku_store.find_skus(conn, {row.group for row in skus})
            described = await store.key_descriptions(
                conn, account_id, {row.group for row in keys if row.group})
            models = report.model_lines(
                (Total(row.group, row.currency, row.amount, row.units), catalog.get(row.group))
                for row in skus)
            key_lines = report.key_lines(
                (Total(row.group, row.currency, row.amount, row.units),
                 described.get(row.group, "")) for row in keys)
            top_models, top_keys = models[: report.TOP], key_lines[: report.TOP]
            model_of = {str(line.ident): line.name for line in top_models}
            key_of = {line.ident: line.name for line in top_keys}
        return Report(
            by_date=report.by_date(days, (Total(day_ms[row.bucket], row.currency, row.amount,
                                                row.units) for row in per_day)),
            models=models,
            model_daily=report.daily_chart(
                day_ms, top_models, ((day_ms[r.bucket], r.group, r.amount) for r in model_days),
                model_of),
            top_models=[line.name for line in top_models],
            keys=key_lines,
            key_daily=report.daily_chart(
                day_ms, top_keys, ((day_ms[r.bucket], r.group, r.amount) for r in key_days),
                key_of),
            top_keys=[line.name for line in top_keys],
        )
