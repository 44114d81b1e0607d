"""Analytics queries: they read the daily rollups only, never an account's raw entries.

`analytics_snapshot` gives one consistent snapshot for all of an answer's queries (so its totals
by day, model and key agree) and enforces the time limit: PostgreSQL cancels the statement
(`SET LOCAL statement_timeout`), SQLite aborts it from a progress handler once the deadline has
passed. Either way the caller gets QueryTimeout instead of waiting.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    BindParameter,
    ColumnElement,
    CompoundSelect,
    String,
    Subquery,
    Table,
    bindparam,
    func,
    literal_column,
    null,
    select,
    text,
    union_all,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from usagebook.errors import QueryTimeout
from usagebook.store.engine import Database
from usagebook.store.rollups import NO_KEY
from usagebook.store.skus import SkuRow
from usagebook.store.tables.accounts import api_keys
from usagebook.store.tables.catalog import skus
from usagebook.store.tables.rollups import rollup_day_currency, rollup_day_key, rollup_day_sku

TIMEOUT_MESSAGE = "Query timed out - try reducing the lookback period"
# The planner cannot estimate the range joins of `store.bucket_sums` and takes them for millions
# of rows: it would JIT-compile a 20 ms statement for a second, or start parallel workers that
# scan whole tables (docs/performance.md). No statement here reads more than tens of thousands of
# rollup rows, so neither is ever worth it. A prepared statement's generic plan (chosen after
# five runs on one connection) knows no range at all; one such plan took 1.5 s where the plan
# for the actual arrays takes 18 ms, so every run is planned for its own parameters.
_SET_LIMITS = text("SELECT set_config('statement_timeout', :ms, true), "
                   "set_config('jit', 'off', true), "
                   "set_config('max_parallel_workers_per_gather', '0', true), "
                   "set_config('plan_cache_mode', 'force_custom_plan', true)")
_PG_QUERY_CANCELED = "57014"
_SQLITE_CHECK_EVERY = 1_000  # virtual machine steps between deadline checks


@dataclass(frozen=True, slots=True)
class DayRange:
    """Inclusive UTC days, as the first epoch ms of each."""

    account_id: str
    first_day_ms: int
    last_day_ms: int


@dataclass(frozen=True, slots=True)
class Total:
    """A rollup total for one name (day, sku or key) and currency; amounts as stored (< 0)."""

    name: Any
    currency: str
    amount: Decimal
    units: Decimal


@asynccontextmanager
async def analytics_snapshot(db: Database, limit_seconds: float) -> AsyncIterator[AsyncConnection]:
    """A read-only transaction on one snapshot; raises QueryTimeout when a statement in it
    overruns `limit_seconds`."""
    deadline = time.monotonic() + limit_seconds
    try:
        async with db.engine.connect() as conn:
            if db.is_sqlite:
                async with _sqlite_deadline(conn, deadline):
                    yield conn
                return
            conn = await conn.execution_options(isolation_level="REPEATABLE READ",
                                                postgresql_readonly=True)
            async with conn.begin():
                # set_config(..., true) is SET LOCAL, but takes a bind parameter (one cached
                # statement for every limit).
                timeout_ms = str(max(1, int(limit_seconds * 1000)))
                await conn.execute(_SET_LIMITS, {"ms": timeout_ms})
                yield conn
    except DBAPIError as exc:
        if _is_timeout(exc, deadline):
            raise QueryTimeout(TIMEOUT_MESSAGE) from exc
        raise


def _is_timeout(exc: DBAPIError, deadline: float) -> bool:
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if code == _PG_QUERY_CANCELED:
        return True
    return "interrupted" in str(exc.orig) and time.monotonic() >= deadline


@asynccontextmanager
async def _sqlite_deadline(conn: AsyncConnection, deadline: float) -> AsyncIterator[None]:
    # The handler runs on aiosqlite's thread, between VM steps; a non-zero answer aborts the
    # statement with "interrupted". It is removed before the connection goes back to the pool.
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None
    await driver.set_progress_handler(lambda: int(time.monotonic() >= deadline),
                                      _SQLITE_CHECK_EVERY)
    try:
        async with conn.begin():  # one snapshot for every query of the answer
            yield
    finally:
        await driver.set_progress_handler(None, 0)


# The statements below are built once, with bind parameters: SQLAlchemy then compiles each once
# and reuses it, instead of walking a fresh statement tree on every request.
_ACCOUNT: BindParameter[str] = bindparam("account_id", type_=String)
_FIRST: BindParameter[int] = bindparam("first_ms", type_=BigInteger)
_LAST: BindParameter[int] = bindparam("last_ms", type_=BigInteger)
_CURRENCY: BindParameter[str] = bindparam("currency", type_=String)
_MODELS: BindParameter[str] = bindparam("model_ids", type_=String, expanding=True)
_KEYS: BindParameter[str] = bindparam("key_ids", type_=String, expanding=True)


def _in_range(table: Table) -> list[ColumnElement[bool]]:
    return [table.c.account_id == _ACCOUNT, table.c.day_ms.between(_FIRST, _LAST)]


def _params(where: DayRange) -> dict[str, Any]:
    return {"account_id": where.account_id, "first_ms": where.first_day_ms,
            "last_ms": where.last_day_ms}


@dataclass(frozen=True, slots=True)
class PeriodTotals:
    """Per SKU and currency with the SKU's catalog row (None for a SKU missing from it), and per
    key and currency with the key's description (the key is None for usage without one)."""

    by_sku: list[tuple[Total, SkuRow | None]]
    by_key: list[tuple[Total, str]]


_CATALOG = [name for name in SkuRow.__dataclass_fields__ if name != "sku"]


def _sums(table: Table, name: str) -> Subquery:
    # Summed first, joined after: the join then meets a few dozen rows, not thousands.
    column = table.c[name]
    return (
        select(column, table.c.currency, func.sum(table.c.amount).label("amount"),
               func.sum(table.c.units).label("units"))
        .where(*_in_range(table))
        .group_by(column, table.c.currency)
        .subquery()
    )


def _period_totals_query() -> CompoundSelect[Any]:
    by_sku = _sums(rollup_day_sku, "sku")
    by_key = _sums(rollup_day_key, "api_key_id")
    return union_all(
        select(literal_column("'s'").label("kind"), *by_sku.c,
               *(skus.c[name] for name in _CATALOG), null().label("description"))
        .select_from(by_sku.outerjoin(skus, skus.c.sku == by_sku.c.sku)),
        select(literal_column("'k'"), *by_key.c, *(null().label(name) for name in _CATALOG),
               api_keys.c.description)
        .select_from(by_key.outerjoin(api_keys, (api_keys.c.id == by_key.c.api_key_id)
                                      & (api_keys.c.account_id == _ACCOUNT))),
    )


_PERIOD_TOTALS = _period_totals_query()


async def period_totals(conn: AsyncConnection, where: DayRange) -> PeriodTotals:
    """Both kinds of totals in one statement (one round trip)."""
    found = PeriodTotals([], [])
    rows = await conn.execute(_PERIOD_TOTALS, _params(where))
    for kind, name, currency, amount, units, *catalog, description in rows:
        if kind == "s":
            sku = SkuRow(name, *catalog) if catalog[0] is not None else None
            found.by_sku.append((Total(name, currency, amount, units), sku))
        else:
            found.by_key.append((Total(name or None, currency, amount, units), description or ""))
    return found


def _daily_spend_query() -> CompoundSelect[Any]:
    d, r, k = rollup_day_currency, rollup_day_sku, rollup_day_key
    model = func.coalesce(skus.c.model_id, r.c.sku)
    return union_all(
        select(literal_column("'d'"), d.c.day_ms, d.c.currency, d.c.amount).where(
            *_in_range(d)),
        select(literal_column("'m'"), r.c.day_ms, model, func.sum(r.c.amount))
        .select_from(r.outerjoin(skus, skus.c.sku == r.c.sku))
        .where(*_in_range(r), r.c.currency == _CURRENCY, model.in_(_MODELS))
        .group_by(r.c.day_ms, model),
        select(literal_column("'k'"), k.c.day_ms, k.c.api_key_id, k.c.amount).where(
            *_in_range(k), k.c.currency == _CURRENCY, k.c.api_key_id.in_(_KEYS)),
    )


_DAILY_SPEND = _daily_spend_query()


@dataclass(frozen=True, slots=True)
class DailySpend:
    """What the answer shows per day: every currency's total, and the chosen models' and keys'
    spend in one currency (amounts as stored)."""

    by_currency: list[Total]
    by_model: list[tuple[int, str, Decimal]]
    by_key: list[tuple[int, str | None, Decimal]]


async def daily_spend(
    conn: AsyncConnection, where: DayRange, currency: str, model_ids: Collection[str],
    key_ids: Collection[str | None],
) -> DailySpend:
    """One statement (one round trip) for the three kinds of daily rows; a model's rows are
    summed over its SKUs (a SKU missing from the catalog is its own model)."""
    params = {**_params(where), "currency": currency, "model_ids": sorted(model_ids),
              "key_ids": sorted({key or NO_KEY for key in key_ids})}
    found = DailySpend([], [], [])
    for kind, day, name, amount in await conn.execute(_DAILY_SPEND, params):
        if kind == "d":
            found.by_currency.append(Total(day, name, amount, Decimal(0)))
        elif kind == "m":
            found.by_model.append((day, name, amount))
        else:
            found.by_key.append((day, name or None, amount))  # '' stands for "no key"
    return found


async def key_descriptions(conn: AsyncConnection, account_id: str,
                           key_ids: Collection[str]) -> dict[str, str]:
    """The descriptions of the account's keys among `key_ids` (a deleted or foreign id is
    left out, as the rollups' join leaves it without one)."""
    wanted = sorted(set(key_ids))
    if not wanted:
        return {}
    rows = await conn.execute(select(api_keys.c.id, api_keys.c.description).where(
        api_keys.c.account_id == account_id, api_keys.c.id.in_(wanted)))
    return {key_id: description or "" for key_id, description in rows}
