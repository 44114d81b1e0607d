"""The questions `store.bucket_sums` answers, and the one SQL statement that answers several.

Each question's plan (`store.bucket_plan`) is a list of terms per grain; each grain's terms
travel as arrays (bucket, sign, range) joined to that grain's rollup by range (one index range
scan per term), every row read is signed and numbered by its question and bucket, and all are
summed once per question, bucket, group and currency. A piece that two neighbouring buckets
share (a local midnight's edge) is read by each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson

from usagebook.store.bucket_plan import RAW, Grain, Term


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


@dataclass(frozen=True, slots=True)
class QueryPart:
    """One question of a statement: its number, its source's tables (grain, table, bucket
    column, weight) and its plan."""

    number: int
    query: BucketQuery
    tables: tuple[tuple[Grain, str, str, float], ...]
    terms: list[Term]


@dataclass
class _Binds:
    """Bind parameters, named apart per question."""

    values: dict[str, Any] = field(default_factory=dict)
    prefix: str = ""

    def bind(self, name: str, value: Any) -> str:
        self.values[self.prefix + name] = value
        return f":{self.prefix}{name}"


def bucket_statement(parts: Sequence[QueryPart], sqlite: bool) -> tuple[str, dict[str, Any]]:
    """The statement, and its parameters, whose rows are (question, bucket, group, currency,
    amount, units), on SQLite with the SKU before the sums (its units are converted in
    Python)."""
    binds = _Binds()
    branches = []
    for part in parts:
        binds.prefix = f"q{part.number}_"
        account = binds.bind("account", part.query.account_id)
        by_grain: dict[Grain, list[Term]] = {}
        for term in part.terms:
            by_grain.setdefault((term.grain, term.phase), []).append(term)
        tables = {grain: (table, column) for grain, table, column, _ in part.tables}
        tables[(RAW, 0)] = ("usage_entries", "ts_ms")
        branches += [_branch(part, account, *tables[grain], n, grain_terms, sqlite, binds)
                     for n, (grain, grain_terms) in enumerate(sorted(by_grain.items()))]
    columns = "x.q, x.b, x.g, x.c, x.s" if sqlite else "x.q, x.b, x.g, x.c"
    return (f"SELECT {columns}, sum(x.amount), sum(x.units) FROM "
            f"({' UNION ALL '.join(branches)}) AS x GROUP BY {columns}"), binds.values


def _branch(part: QueryPart, account: str, table: str, column: str, n: int, terms: list[Term],
            sqlite: bool, binds: _Binds) -> str:
    """Every row the terms of one grain read, with its question, bucket, group, currency and
    signed figures (on SQLite also its SKU)."""
    query = part.query
    wanted = query.filters
    raw = table == "usage_entries"
    key = "coalesce(r.api_key_id, '')" if raw else "r.api_key_id"
    convert = query.unit_types and not sqlite
    catalog = wanted.model is not None or convert or query.group == "model"
    # Where the catalog is needed and a bucket reads several rows per SKU, the rows are summed
    # per bucket, group, currency and SKU first and only those sums meet the catalog (`p`): a
    # SKU's model and unit factor are the same for all its rows, so the figures are the same.
    summed = catalog and _several_rows_per_bucket(terms)
    row = "p" if summed else "r"
    model = f"coalesce(k.model_id, {row}.sku)"
    # With `summed`, a model is found from the summed row's SKU, after the sums.
    group = {None: "NULL", "currency": "r.currency", "sku": "r.sku",
             "model": "NULL" if summed else model,
             "api_key_id": key, "tag": _tag_value(query, raw, sqlite, binds)}[query.group]
    conditions = _tag_conditions(query, raw, sqlite, binds)
    for name, value, expression in (("currency", wanted.currency, "r.currency"),
                                    ("sku", wanted.sku, "r.sku"),
                                    ("api_key_id", wanted.api_key_id, key)):
        if value is not None:
            conditions.append(f"{expression} = {binds.bind(f'f_{name}', value)}")
    on_catalog = ([f"{model} = {binds.bind('f_model', wanted.model)}"]
                  if wanted.model is not None else [])
    amount, units = "r.amount", "r.units"
    if any(t.sign < 0 for t in terms):  # a negation costs less than a multiplication
        amount, units = (f"CASE WHEN t.s < 0 THEN -{figure} ELSE {figure} END"
                         for figure in (amount, units))
    currency = "r.currency"
    if query.usd_like and query.group != "currency":
        currency = "CASE WHEN r.currency = 'DIEM' THEN 'DIEM' ELSE 'USD' END"
    source = _terms_from(terms, n, account, table, column, sqlite, binds)
    join = f" LEFT JOIN skus AS k ON k.sku = {row}.sku" if catalog else ""
    factor = " * coalesce(k.unit_type_per_unit, 1)" if convert else ""
    sku = f"{row}.sku" if sqlite and query.unit_types else "NULL"
    if not summed:
        return (f"SELECT {part.number} AS q, t.b AS b, {group} AS g, {currency} AS c, "
                f"{sku} AS s, {amount} AS amount, {units}{factor} AS units "
                f"FROM {source}{join}{_where(conditions + on_catalog)}")
    sums = (f"SELECT t.b AS b, {group} AS g, {currency} AS c, r.sku AS sku, "
            f"sum({amount}) AS amount, sum({units}) AS units FROM {source}{_where(conditions)} "
            "GROUP BY 1, 2, 3, 4")
    return (f"SELECT {part.number} AS q, p.b AS b, "
            f"{model if query.group == 'model' else 'p.g'} AS g, p.c AS c, {sku} AS s, "
            f"p.amount AS amount, p.units{factor} AS units "
            f"FROM ({sums}) AS p{join}{_where(on_catalog)}")


def _where(conditions: list[str]) -> str:
    return f" WHERE {' AND '.join(conditions)}" if conditions else ""


def _several_rows_per_bucket(terms: list[Term]) -> bool:
    """Whether the terms read at least two units per bucket on average (the entries: many)."""
    if any(t.grain == RAW for t in terms):
        return True
    units = sum(-(-(t.hi - t.lo) // t.grain) for t in terms)
    return units >= 2 * len({t.bucket for t in terms})


def _terms_from(terms: list[Term], n: int, account: str, table: str, column: str,
                sqlite: bool, binds: _Binds) -> str:
    """The terms (t.b: bucket, t.s: sign) joined to the rows of each term's range: one index
    range scan per term. (One scan of the whole range, each row's term found by
    `width_bucket`, cost the database as much CPU for hourly buckets; a seek per unit let the
    planner hash-join a whole table.)"""
    on = f"r.account_id = {account} AND r.{column} >= t.lo AND r.{column} < t.hi"
    if sqlite:
        found = binds.bind(f"terms_{n}", orjson.dumps([[t.bucket, t.sign, t.lo, t.hi]
                                                       for t in terms]).decode())
        return (f"(SELECT json_extract(value, '$[0]') AS b, json_extract(value, '$[1]') AS s, "
                f"json_extract(value, '$[2]') AS lo, json_extract(value, '$[3]') AS hi "
                f"FROM json_each({found})) AS t JOIN {table} AS r ON {on}")
    arrays = [f"CAST({binds.bind(f'{name}_{n}', [getattr(t, attribute) for t in terms])} "
              f"AS {kind}[])"
              for name, attribute, kind in (("b", "bucket", "int"), ("s", "sign", "int"),
                                            ("lo", "lo", "bigint"), ("hi", "hi", "bigint"))]
    return f"unnest({', '.join(arrays)}) AS t(b, s, lo, hi) JOIN {table} AS r ON {on}"


def _tag_value(query: BucketQuery, raw: bool, sqlite: bool, binds: _Binds) -> str:
    if query.group != "tag":
        return "NULL"
    if not raw:
        return "r.tag_value"
    # Keys are [a-z0-9_]: safe inside a JSON path. NULL for an entry without the tag.
    if sqlite:
        path = '$."' + str(query.group_tag) + '"'
        return f"json_extract(r.tags, {binds.bind('group_path', path)})"
    return f"(CAST(r.tags AS json) ->> CAST({binds.bind('group_tag', query.group_tag)} AS text))"


def _tag_conditions(query: BucketQuery, raw: bool, sqlite: bool, binds: _Binds) -> list[str]:
    conditions = []
    if not raw and query.group == "tag":
        conditions.append(f"r.tag_key = {binds.bind('tag_key', query.group_tag)}")
    for n, (key, value) in enumerate(query.filters.tags):
        if raw:
            # Canonical JSON never escapes the characters tags may hold (`store.entries`).
            found = binds.bind(f"tag_{n}", f'"{key}":"{value}"')
            conditions.append(f"{'instr' if sqlite else 'strpos'}(r.tags, {found}) > 0")
        else:
            conditions += [f"r.tag_key = {binds.bind('tag_key', key)}",
                           f"r.tag_value = {binds.bind(f'tag_{n}', value)}"]
    return conditions
