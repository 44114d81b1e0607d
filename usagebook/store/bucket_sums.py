"""Exact sums per time bucket and group, from the rollups (`store.bucket_plan` says which rows).

One statement per question: the plan's terms travel as one JSON parameter, each grain's terms
are joined to its rollup table by range (one index range scan per term), signed sums are
grouped per bucket, group and currency in SQL, and the branches are added up. A source is the
set of rollups that can answer a question: its tables carry every column the question filters
or groups on. "raw" reads the entries themselves (any question, at the cost of reading them).

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
from usagebook.store.rollups import MS_PER_HOUR, MS_PER_QUARTER, NO_KEY
from usagebook.timeutil import MS_PER_DAY

# Per source: (grain, table, bucket column), biggest grain first.
SOURCES: dict[str, tuple[tuple[int, str, str], ...]] = {
    "currency": ((MS_PER_DAY, "rollup_day_currency", "day_ms"),
                 (MS_PER_HOUR, "rollup_hour_currency", "hour_ms"),
                 (MS_PER_QUARTER, "rollup_quarter_currency", "quarter_ms")),
    "sku": ((MS_PER_DAY, "rollup_day_sku", "day_ms"),
            (MS_PER_HOUR, "rollup_hour_sku", "hour_ms"),
            (MS_PER_QUARTER, "rollup_quarter_sku", "quarter_ms")),
    # Keys without their SKU per day; enough for spend (not for units in unit types).
    "key": ((MS_PER_DAY, "rollup_day_key", "day_ms"),
            (MS_PER_HOUR, "rollup_hour_key", "hour_ms"),
            (MS_PER_QUARTER, "rollup_quarter_key", "quarter_ms")),
    "key_sku": ((MS_PER_HOUR, "rollup_hour_key", "hour_ms"),
                (MS_PER_QUARTER, "rollup_quarter_key", "quarter_ms")),
    # One tag key per question (its rows hold one key's values); per quarter hour only.
    "tag": ((MS_PER_QUARTER, "rollup_quarter_tag", "quarter_ms"),),
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
    grains = [grain for grain, _, _ in SOURCES[source]]
    terms = plan_terms(query.boundaries, grains, query.anchor)
    if not terms:
        return []
    sqlite = conn.dialect.name == "sqlite"
    # Every piece counted once, whole (UTC days or hours, a whole-hour zone's hours): one
    # level of sums is enough, with the catalog joined to the rows as they are read.
    direct = not sqlite and all(t.sign == 1 for t in terms) and len(
        {(t.grain, t.lo, t.hi) for t in terms}) == len(terms)
    statement, params = _statement(query, source, {t.grain for t in terms}, sqlite, direct)
    if direct:
        params["pieces"] = orjson.dumps([[t.bucket, t.grain, t.lo, t.hi] for t in terms]).decode()
    else:
        params["pieces"], params["uses"] = _pieces_json(terms)
    rows = await conn.execute(text(statement), params)
    if not sqlite:
        found = [BucketSum(b, _group(g), c, amount, units) for b, g, c, amount, units in rows]
    else:
        found = await _from_sqlite(conn, query, [tuple(row) for row in rows])
    return [row for row in found if row.units]


def _pieces_json(terms: list[Term]) -> tuple[str, str]:
    """The distinct pieces to read, and which bucket uses each with which sign: an edge
    shared by two neighbouring buckets (a local midnight) is read once."""
    pieces: dict[tuple[int, int, int], int] = {}
    uses = []
    for t in terms:
        piece = pieces.setdefault((t.grain, t.lo, t.hi), len(pieces))
        uses.append([t.bucket, t.sign, piece])
    listed = [[n, grain, lo, hi] for (grain, lo, hi), n in pieces.items()]
    return orjson.dumps(listed).decode(), orjson.dumps(uses).decode()


def _group(value: Any) -> Any:
    return None if value == NO_KEY else value


def _statement(query: BucketQuery, source: str, grains: set[int], sqlite: bool,
               direct: bool = False) -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = {"account": query.account_id}
    branches = []
    tables = {grain: (table, column) for grain, table, column in SOURCES[source]}
    tables[RAW] = ("usage_entries", "ts_ms")
    for grain in sorted(grains):
        table, column = tables[grain]
        branches.append(_branch(query, table, column, grain, sqlite, params, direct))
    if direct and len(branches) == 1:  # pieces are numbered by their bucket
        return f"SELECT x.p, x.g, x.c, x.amount, x.units FROM ({branches[0]}) AS x", params
    if direct:
        return ("SELECT x.p, x.g, x.c, sum(x.amount), sum(x.units) FROM ("
                + " UNION ALL ".join(branches) + ") AS x GROUP BY x.p, x.g, x.c"), params
    joined = f") AS x JOIN {_uses_from(sqlite)} ON u.p = x.p"
    if sqlite:
        group_by = "u.b, x.g, x.c, x.s"
        return (f"SELECT {group_by}, sum(u.s * x.amount), sum(u.s * x.units) FROM ("
                + " UNION ALL ".join(branches) + joined + f" GROUP BY {group_by}"), params
    # The catalog is joined here, to a few rows per piece and SKU, not to every rollup row.
    group = "coalesce(k.model_id, x.s)" if query.group == "model" else "x.g"
    units = "x.units * coalesce(k.unit_type_per_unit, 1)" if query.unit_types else "x.units"
    return (f"SELECT u.b, {group}, x.c, sum(u.s * x.amount), sum(u.s * {units}) FROM ("
            + " UNION ALL ".join(branches) + joined + " LEFT JOIN skus AS k ON k.sku = x.s "
            f"GROUP BY u.b, {group}, x.c"), params


def _pieces_from(sqlite: bool) -> str:
    if sqlite:
        return ("(SELECT json_extract(value, '$[0]') AS p, json_extract(value, '$[1]') AS g, "
                "json_extract(value, '$[2]') AS lo, json_extract(value, '$[3]') AS hi "
                "FROM json_each(:pieces)) AS t")
    return ("(SELECT (e->>0)::int AS p, (e->>1)::bigint AS g, (e->>2)::bigint AS lo, "
            "(e->>3)::bigint AS hi FROM json_array_elements(CAST(:pieces AS json)) AS e) AS t")


def _uses_from(sqlite: bool) -> str:
    if sqlite:
        return ("(SELECT json_extract(value, '$[0]') AS b, json_extract(value, '$[1]') AS s, "
                "json_extract(value, '$[2]') AS p FROM json_each(:uses)) AS u")
    return ("(SELECT (e->>0)::int AS b, (e->>1)::int AS s, (e->>2)::int AS p "
            "FROM json_array_elements(CAST(:uses AS json)) AS e) AS u")


def _branch(query: BucketQuery, table: str, column: str, grain: int, sqlite: bool,
            params: dict[str, Any], direct: bool = False) -> str:
    raw = table == "usage_entries"
    key = "coalesce(r.api_key_id, '')" if raw else "r.api_key_id"
    model = "coalesce(k.model_id, r.sku)"
    group = {None: "NULL", "currency": "r.currency", "sku": "r.sku", "model": model,
             "api_key_id": key, "tag": _tag_value(query, raw, sqlite, params)}[query.group]
    conditions = [f"t.g = {grain}", *_tag_conditions(query, raw, sqlite, params)]
    wanted = query.filters
    for name, value, expression in (("currency", wanted.currency, "r.currency"),
                                    ("sku", wanted.sku, "r.sku"), ("model", wanted.model, model),
                                    ("api_key_id", wanted.api_key_id, key)):
        if value is not None:
            params[f"f_{name}"] = value
            conditions.append(f"{expression} = :f_{name}")
    # PostgreSQL maps SKUs to models and unit types after summing (`_statement`); SQLite
    # converts units in Python.
    late = not sqlite and not direct and (query.unit_types or query.group == "model")
    if late and query.group == "model":
        group = "NULL"
    convert = direct and query.unit_types
    catalog = wanted.model is not None or convert or (
        query.group == "model" and (sqlite or direct))
    join = " LEFT JOIN skus AS k ON k.sku = r.sku" if catalog else ""
    sku = "r.sku" if late or (sqlite and query.unit_types) else "NULL"
    units = "r.units * coalesce(k.unit_type_per_unit, 1)" if convert else "r.units"
    currency = "r.currency"
    if query.usd_like and query.group != "currency":
        currency = "CASE WHEN r.currency = 'DIEM' THEN 'DIEM' ELSE 'USD' END"
    # PostgreSQL refuses a constant (NULL) in GROUP BY: only real expressions go there.
    grouped = ", ".join(e for e in ("t.p", group, currency, sku) if e != "NULL")
    return (
        f"SELECT t.p AS p, {group} AS g, {currency} AS c, {sku} AS s, "
        f"sum(r.amount) AS amount, sum({units}) AS units "
        f"FROM {_pieces_from(sqlite)} JOIN {table} AS r ON r.account_id = :account "
        f"AND r.{column} >= t.lo AND r.{column} < t.hi{join} "
        f"WHERE {' AND '.join(conditions)} GROUP BY {grouped}"
    )


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
