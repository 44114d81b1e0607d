"""Exact sums per time bucket and group, from the rollups (`store.bucket_plan` says which rows).

One statement per question: the plan's terms travel as arrays (bucket, sign, range) per grain,
each joined to its rollup table by range (one index range scan per term); every row read is
signed and numbered by its bucket, and all are summed once per bucket, group and currency. A
piece that two neighbouring buckets share (a local midnight's edge) is read by each. A source
is the set of rollups that can answer a question: its tables carry every column the question
filters or groups on. "raw" reads the entries themselves (any question, at the cost of reading
them).

On PostgreSQL units are converted to each SKU's unit type in SQL (exact NUMERIC); on SQLite,
whose amounts are 64-bit nano-units that a product could overflow, the rows are grouped by SKU
as well and converted here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from usagebook.money import from_nanos
from usagebook.store.bucket_plan import RAW, Term, plan_terms
from usagebook.store.rollups import (
    MS_PER_HALF_HOUR,
    MS_PER_HOUR,
    MS_PER_QUARTER,
    MS_PER_SIX_HOURS,
    NO_KEY,
)
from usagebook.timeutil import MS_PER_DAY

# A key's hour and quarter-hour rows carry the SKU too: several rows where its day, six-hour
# and half-hour rows have one, which the plan weighs.
_KEY_SKU_ROWS = 4.0
# Per source: (grain, table, bucket column, rows per unit relative to the source's others),
# biggest grain first.
SOURCES: dict[str, tuple[tuple[int, str, str, float], ...]] = {
    "currency": ((MS_PER_DAY, "rollup_day_currency", "day_ms", 1.0),
                 (MS_PER_HOUR, "rollup_hour_currency", "hour_ms", 1.0),
                 (MS_PER_QUARTER, "rollup_quarter_currency", "quarter_ms", 1.0)),
    "sku": ((MS_PER_DAY, "rollup_day_sku", "day_ms", 1.0),
            (MS_PER_SIX_HOURS, "rollup_six_hour_sku", "six_hour_ms", 1.0),
            (MS_PER_HOUR, "rollup_hour_sku", "hour_ms", 1.0),
            (MS_PER_HALF_HOUR, "rollup_half_hour_sku", "half_hour_ms", 1.0),
            (MS_PER_QUARTER, "rollup_quarter_sku", "quarter_ms", 1.0)),
    # Keys without their SKU per day, six hours and half hour; enough for spend (not for
    # units in unit types). The hour and quarter rows (with the SKU) are summed over SKUs.
    "key": ((MS_PER_DAY, "rollup_day_key", "day_ms", 1.0),
            (MS_PER_SIX_HOURS, "rollup_six_hour_key", "six_hour_ms", 1.0),
            (MS_PER_HOUR, "rollup_hour_key", "hour_ms", _KEY_SKU_ROWS),
            (MS_PER_HALF_HOUR, "rollup_half_hour_key", "half_hour_ms", 1.0),
            (MS_PER_QUARTER, "rollup_quarter_key", "quarter_ms", _KEY_SKU_ROWS)),
    "key_sku": ((MS_PER_HOUR, "rollup_hour_key", "hour_ms", 1.0),
                (MS_PER_QUARTER, "rollup_quarter_key", "quarter_ms", 1.0)),
    # One tag key per question (its rows hold one key's values); per quarter hour only.
    "tag": ((MS_PER_QUARTER, "rollup_quarter_tag", "quarter_ms", 1.0),),
    "raw": (),
}
# Which columns each source's rows carry (besides currency, amount and units).
_CARRIES = {"currency": set(), "sku": {"sku"}, "key": {"api_key_id"},
            "key_sku": {"api_key_id", "sku"}, "tag": {"sku", "tag"},
            "raw": {"api_key_id", "sku", "tag"}}


@dataclass(frozen=True, slots=True)
class Filters:
    """Only entries matching every given value."""

    currency: str | None = None
    sku: str | None = None
    model: str | None = None
    api_key_id: str | None = None
    tags: tuple[tuple[str, str], ...] = ()  # (key, value) pairs the entry's tags must hold


@dataclass(frozen=True, slots=True)
class BucketQuery:
    account_id: str
    boundaries: Sequence[int]  # bucket k is [boundaries[k], boundaries[k + 1])
    anchor: int  # the buckets' nominal size: MS_PER_DAY or MS_PER_HOUR
    group: str | None = None  # None, "currency", "sku", "model", "api_key_id" or "tag"
    group_tag: str | None = None  # the tag key grouped on, with group "tag"
    filters: Filters = Filters()
    unit_types: bool = False  # units in each SKU's unit type (the source must carry the SKU)
    # USD and BUNDLED_CREDITS summed together (as "USD"): an answer that shows only USD-like
    # and DIEM spend reads a third fewer rows back.
    usd_like: bool = False


@dataclass(frozen=True, slots=True)
class BucketSum:
    """Signed sums as stored (charges negative) for one bucket, group and currency."""

    bucket: int
    group: Any
    currency: str
    amount: Decimal
    units: Decimal


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
    source = source or source_for(query)
    tables = SOURCES[source]
    terms = plan_terms(query.boundaries, [grain for grain, *_ in tables],
                       {grain: weight for grain, _, _, weight in tables})
    if not terms:
        return []
    sqlite = conn.dialect.name == "sqlite"
    statement, params = _statement(query, source, terms, sqlite)
    rows = (await conn.execute(text(statement), params)).all()
    if not sqlite:
        found = [BucketSum(b, _group(g), c, amount, units) for b, g, c, amount, units in rows]
    else:
        found = await _from_sqlite(conn, query, [tuple(row) for row in rows])
    return [row for row in found if row.units]


def _group(value: Any) -> Any:
    return None if value == NO_KEY else value


def _statement(query: BucketQuery, source: str, terms: list[Term], sqlite: bool
               ) -> tuple[str, dict[str, Any]]:
    """One branch per grain, each row signed and numbered by its bucket, summed once."""
    params: dict[str, Any] = {"account": query.account_id}
    by_grain: dict[int, list[Term]] = {}
    for term in terms:
        by_grain.setdefault(term.grain, []).append(term)
    tables = {grain: (table, column) for grain, table, column, _ in SOURCES[source]}
    tables[RAW] = ("usage_entries", "ts_ms")
    branches = [_branch(query, *tables[grain], n, grain_terms, sqlite, params)
                for n, (grain, grain_terms) in enumerate(sorted(by_grain.items()))]
    union = " UNION ALL ".join(branches)
    columns = "x.b, x.g, x.c, x.s" if sqlite else "x.b, x.g, x.c"
    return (f"SELECT {columns}, sum(x.amount), sum(x.units) FROM ({union}) AS x "
            f"GROUP BY {columns}"), params


def _terms_from(terms: list[Term], n: int, table: str, column: str, sqlite: bool,
                params: dict[str, Any]) -> str:
    """The terms (t.b: bucket, t.s: sign) joined to the rows of each term's range: one index
    range scan per term. (One scan of the whole range, each row's term found by
    `width_bucket`, cost the database as much CPU for hourly buckets.)"""
    on = f"r.account_id = :account AND r.{column} >= t.lo AND r.{column} < t.hi"
    if sqlite:
        params[f"terms_{n}"] = orjson.dumps([[t.bucket, t.sign, t.lo, t.hi]
                                             for t in terms]).decode()
        return (f"(SELECT json_extract(value, '$[0]') AS b, json_extract(value, '$[1]') AS s, "
                f"json_extract(value, '$[2]') AS lo, json_extract(value, '$[3]') AS hi "
                f"FROM json_each(:terms_{n})) AS t JOIN {table} AS r ON {on}")
    params.update({f"b_{n}": [t.bucket for t in terms], f"s_{n}": [t.sign for t in terms],
                   f"lo_{n}": [t.lo for t in terms], f"hi_{n}": [t.hi for t in terms]})
    return (f"unnest(CAST(:b_{n} AS int[]), CAST(:s_{n} AS int[]), CAST(:lo_{n} AS bigint[]), "
            f"CAST(:hi_{n} AS bigint[])) AS t(b, s, lo, hi) JOIN {table} AS r ON {on}")


def _branch(query: BucketQuery, table: str, column: str, n: int, terms: list[Term],
            sqlite: bool, params: dict[str, Any]) -> str:
    """Every row the terms of one grain read, with its bucket, group, currency and signed
    figures (on SQLite also its SKU, for the unit conversion done in Python)."""
    raw = table == "usage_entries"
    key = "coalesce(r.api_key_id, '')" if raw else "r.api_key_id"
    model = "coalesce(k.model_id, r.sku)"
    group = {None: "NULL", "currency": "r.currency", "sku": "r.sku", "model": model,
             "api_key_id": key, "tag": _tag_value(query, raw, sqlite, params)}[query.group]
    conditions = _tag_conditions(query, raw, sqlite, params)
    wanted = query.filters
    for name, value, expression in (("currency", wanted.currency, "r.currency"),
                                    ("sku", wanted.sku, "r.sku"), ("model", wanted.model, model),
                                    ("api_key_id", wanted.api_key_id, key)):
        if value is not None:
            params[f"f_{name}"] = value
            conditions.append(f"{expression} = :f_{name}")
    convert = query.unit_types and not sqlite
    catalog = wanted.model is not None or convert or query.group == "model"
    join = " LEFT JOIN skus AS k ON k.sku = r.sku" if catalog else ""
    sku = "r.sku" if sqlite and query.unit_types else "NULL"
    amount = "r.amount"
    units = "r.units * coalesce(k.unit_type_per_unit, 1)" if convert else "r.units"
    if any(t.sign < 0 for t in terms):  # a negation costs less than a multiplication
        amount, units = (f"CASE WHEN t.s < 0 THEN -{figure} ELSE {figure} END"
                         for figure in (amount, units))
    currency = "r.currency"
    if query.usd_like and query.group != "currency":
        currency = "CASE WHEN r.currency = 'DIEM' THEN 'DIEM' ELSE 'USD' END"
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    return (f"SELECT t.b AS b, {group} AS g, {currency} AS c, {sku} AS s, {amount} AS amount, "
            f"{units} AS units FROM {_terms_from(terms, n, table, column, sqlite, params)}"
            f"{join}{where}")


def _tag_value(query: BucketQuery, raw: bool, sqlite: bool, params: dict[str, Any]) -> str:
    if query.group != "tag":
        return "NULL"
    if not raw:
        return "r.tag_value"
    # Keys are [a-z0-9_]: safe inside a JSON path. NULL for an entry without the tag.
    params["group_tag"] = query.group_tag
    params["group_path"] = f'$."{query.group_tag}"'
    return ("json_extract(r.tags, :group_path)" if sqlite
            else "(CAST(r.tags AS json) ->> CAST(:group_tag AS text))")


def _tag_conditions(query: BucketQuery, raw: bool, sqlite: bool, params: dict[str, Any]
                    ) -> list[str]:
    conditions = []
    if not raw and query.group == "tag":
        params["tag_key"] = query.group_tag
        conditions.append("r.tag_key = :tag_key")
    for n, (key, value) in enumerate(query.filters.tags):
        if raw:
            # Canonical JSON never escapes the characters tags may hold (`store.entries`).
            params[f"tag_{n}"] = f'"{key}":"{value}"'
            found = "instr(r.tags, :tag_{n})" if sqlite else "strpos(r.tags, :tag_{n})"
            conditions.append(f"{found.format(n=n)} > 0")
        else:
            params["tag_key"], params[f"tag_{n}"] = key, value
            conditions += ["r.tag_key = :tag_key", f"r.tag_value = :tag_{n}"]
    return conditions


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
