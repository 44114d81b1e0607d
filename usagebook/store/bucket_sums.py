"""Exact sums per time bucket and group, from the rollups (`store.bucket_plan` says which rows,
`store.bucket_sql` how they are read and summed). A source is the set of rollups that can answer
a question: its tables carry every column the question filters or groups on. "raw" reads the
entries themselves (any question, at the cost of reading them).

On PostgreSQL units are converted to each SKU's unit type in SQL (exact NUMERIC); on SQLite,
whose amounts are 64-bit nano-units that a product could overflow, the rows are grouped by SKU
as well and converted here.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from usagebook.money import from_nanos
from usagebook.store.bucket_plan import Grain, plan_terms
from usagebook.store.bucket_sql import BucketQuery, BucketSum, Filters, QueryPart, bucket_statement
from usagebook.store.rollups import (
    MS_PER_HALF_HOUR,
    MS_PER_HOUR,
    MS_PER_QUARTER,
    MS_PER_SIX_HOURS,
    NO_KEY,
)
from usagebook.timeutil import MS_PER_DAY

__all__ = ["SOURCES", "BucketQuery", "BucketSum", "Filters", "bucket_sums",
           "bucket_sums_together", "source_for"]

# A key's hour and quarter-hour rows carry the SKU too: several rows where its day, six-hour
# and half-hour rows have one, which the plan weighs.
_KEY_SKU_ROWS = 4.0
DAY, SIX_HOURS, HOUR = (MS_PER_DAY, 0), (MS_PER_SIX_HOURS, 0), (MS_PER_HOUR, 0)
HALF_HOUR, QUARTER = (MS_PER_HALF_HOUR, 0), (MS_PER_QUARTER, 0)
HALF_PAST = (MS_PER_HOUR, MS_PER_HALF_HOUR)  # hours from half past: a +05:30 zone's hours
# Six hours from half past: four make a +05:30 zone's day.
HALF_PAST_SIX = (MS_PER_SIX_HOURS, MS_PER_HALF_HOUR)
# Per source: ((unit, phase), table, bucket column, rows per unit relative to the source's
# others), biggest unit first.
SOURCES: dict[str, tuple[tuple[Grain, str, str, float], ...]] = {
    "currency": ((DAY, "rollup_day_currency", "day_ms", 1.0),
                 (HOUR, "rollup_hour_currency", "hour_ms", 1.0),
                 (QUARTER, "rollup_quarter_currency", "quarter_ms", 1.0)),
    "sku": ((DAY, "rollup_day_sku", "day_ms", 1.0),
            (SIX_HOURS, "rollup_six_hour_sku", "six_hour_ms", 1.0),
            (HALF_PAST_SIX, "rollup_half_past_six_hour_sku", "half_past_six_hour_ms", 1.0),
            (HOUR, "rollup_hour_sku", "hour_ms", 1.0),
            (HALF_PAST, "rollup_half_past_hour_sku", "half_past_hour_ms", 1.0),
            (HALF_HOUR, "rollup_half_hour_sku", "half_hour_ms", 1.0),
            (QUARTER, "rollup_quarter_sku", "quarter_ms", 1.0)),
    # Keys without their SKU per day, six hours and half hour; enough for spend (not for
    # units in unit types). The hour and quarter rows (with the SKU) are summed over SKUs.
    "key": ((DAY, "rollup_day_key", "day_ms", 1.0),
            (SIX_HOURS, "rollup_six_hour_key", "six_hour_ms", 1.0),
            (HOUR, "rollup_hour_key", "hour_ms", _KEY_SKU_ROWS),
            (HALF_HOUR, "rollup_half_hour_key", "half_hour_ms", 1.0),
            (QUARTER, "rollup_quarter_key", "quarter_ms", _KEY_SKU_ROWS)),
    "key_sku": ((HOUR, "rollup_hour_key", "hour_ms", 1.0),
                (QUARTER, "rollup_quarter_key", "quarter_ms", 1.0)),
    # One tag key per question (its rows hold one key's values); per quarter hour only.
    "tag": ((QUARTER, "rollup_quarter_tag", "quarter_ms", 1.0),),
    "raw": (),
}
# Which columns each source's rows carry (besides currency, amount and units).
_CARRIES = {"currency": set(), "sku": {"sku"}, "key": {"api_key_id"},
            "key_sku": {"api_key_id", "sku"}, "tag": {"sku", "tag"},
            "raw": {"api_key_id", "sku", "tag"}}


def source_for(query: BucketQuery) -> str:
    """The narrowest source whose rows carry everything the query needs."""
    needed = set()
    if (query.unit_types or query.filters.sku or query.filters.model
            or query.group in ("sku", "model")):
        needed.add("sku")
    if query.group == "api_key_id" or query.filters.api_key_id:
        needed.add("api_key_id")
    tag_keys = {key for key, _ in query.filters.tags} | (
        {query.group_tag} if query.group == "tag" else set())
    if len(tag_keys) > 1:
        return "raw"  # the tag rollup holds one key's values per row
    if tag_keys:
        needed.add("tag")
    for name in ("currency", "sku", "key", "key_sku", "tag"):
        if needed <= _CARRIES[name] and not (name == "key" and query.unit_types):
            return name
    return "raw"


async def bucket_sums(conn: AsyncConnection, query: BucketQuery,
                      source: str | None = None) -> list[BucketSum]:
    """Every (bucket, group, currency) with entries in it; buckets and groups without any are
    left out. A signed plan can leave a row of zeros for a group whose entries lie only in a
    subtracted piece: every entry has units > 0 (recording refuses others), so a row whose
    units add up to zero has no entry and is dropped."""
    return (await bucket_sums_together(conn, [(query, source)]))[0]


async def bucket_sums_together(conn: AsyncConnection,
                               queries: Sequence[tuple[BucketQuery, str | None]]
                               ) -> list[list[BucketSum]]:
    """`bucket_sums` of each (query, source or None), in one statement (one round trip)."""
    sqlite = conn.dialect.name == "sqlite"
    parts = []
    for n, (query, source) in enumerate(queries):
        tables = SOURCES[source or source_for(query)]
        terms = plan_terms(query.boundaries, [grain for grain, *_ in tables],
                           {grain: weight for grain, _, _, weight in tables})
        if terms:
            parts.append(QueryPart(n, query, tables, terms))
    found: list[list[BucketSum]] = [[] for _ in queries]
    if not parts:
        return found
    statement, params = bucket_statement(parts, sqlite)
    rows = (await conn.execute(text(statement), params)).all()
    if not sqlite:
        for q, b, g, c, amount, units in rows:
            if units:
                found[q].append(BucketSum(b, _group(g), c, amount, units))
        return found
    for part in parts:
        mine = [tuple(row[1:]) for row in rows if row[0] == part.number]
        found[part.number] = [row for row in await _from_sqlite(conn, part.query, mine)
                              if row.units]
    return found


def _group(value: Any) -> Any:
    return None if value == NO_KEY else value


async def _from_sqlite(conn: AsyncConnection, query: BucketQuery, rows: list[tuple[Any, ...]]
                       ) -> list[BucketSum]:
    """SQLite's integer nano-unit sums as Decimals, units converted per SKU when asked."""
    factors: dict[str, Decimal] = {}
    if query.unit_types:
        skus = {row[3] for row in rows}
        found = await conn.execute(text("SELECT sku, unit_type_per_unit FROM skus"))
        factors = {sku: from_nanos(int(factor)) for sku, factor in found if sku in skus}
    sums: dict[tuple[Any, ...], list[Decimal]] = {}
    for b, g, c, sku, amount, units in rows:
        total = sums.setdefault((b, _group(g), c), [Decimal(0), Decimal(0)])
        total[0] += from_nanos(int(amount))
        total[1] += from_nanos(int(units)) * factors.get(sku, Decimal(1))
    return [BucketSum(*key, *values) for key, values in sums.items()]
