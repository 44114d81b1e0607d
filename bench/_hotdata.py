"""The hot-path benchmark's data: the shared PostgreSQL dataset (`bench/dataset.py`) with a
grant and a DIEM allocation on its big account (so a balance read finds balance rows), and a
SQLite copy of it built the way a SQLite ledger is (migrated to 0001, entries loaded in bulk,
then upgraded to head so every projection is built by its own backfill, then ANALYZE)."""

from __future__ import annotations

import asyncio
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg

from bench.dataset import RESULTS, BenchDataset
from usagebook.ledger.balances import balance_of, grant_credit, set_diem_allocation
from usagebook.money import to_nanos
from usagebook.settings import Settings
from usagebook.store.engine import create_database
from usagebook.store.migrate import upgrade

_ENTRY_COLUMNS = ("id", "account_id", "api_key_id", "ts_ms", "sku", "price_per_unit_usd",
                  "units", "amount", "currency", "notes", "request_id", "execution_ms",
                  "prompt_tokens", "completion_tokens")
_MONEY = {"price_per_unit_usd", "units", "amount", "unit_type_per_unit", "diem_allocation"}
_COPIED = ("accounts", "api_keys", "skus")


def settings_for(url: str, dataset: BenchDataset) -> Settings:
    return Settings.from_env({}, database_url=url, secret_key=dataset.secret_key)


async def ensure_balances(url: str, dataset: BenchDataset) -> None:
    """A USD grant and a DIEM allocation on the big account, once."""
    database = create_database(settings_for(url, dataset))
    try:
        view = await balance_of(database, dataset.account_id)
        if view.credits["USD"] == 0:
            await grant_credit(database, dataset.account_id, "USD", "1000000", "bench")
        if view.diem_allocation is None:
            await set_diem_allocation(database, dataset.account_id, "100")
    finally:
        await database.dispose()


def sqlite_copy(dataset: BenchDataset) -> Path:
    """The dataset as a SQLite file beside the results (built once per dataset)."""
    path = RESULTS / f"hotpath-{dataset.entries}-{dataset.built_ms}.db"
    if path.exists():  # brought to head (a no-op when it is), so `serve` has nothing to do
        upgrade(settings_for(f"sqlite:///{path}", dataset).database_url)
        return path
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    url = f"sqlite:///{partial}"
    upgrade(settings_for(url, dataset).database_url, "0001")
    asyncio.run(_copy_rows(dataset, partial))
    upgrade(settings_for(url, dataset).database_url)
    with sqlite3.connect(partial) as connection:
        connection.execute("ANALYZE")
    partial.rename(path)
    return path


async def _copy_rows(dataset: BenchDataset, path: Path) -> None:
    source = await asyncpg.connect(dataset.database_url)
    target = sqlite3.connect(path)
    try:
        for table in _COPIED:  # the columns revision 0001 has (later ones add defaults)
            columns = [row[1] for row in target.execute(f"PRAGMA table_info({table})")]
            rows = await source.fetch(f"SELECT {', '.join(columns)} FROM {table}")
            _insert(target, table, columns, [tuple(r) for r in rows])
        async with source.transaction():
            cursor = source.cursor(f"SELECT {', '.join(_ENTRY_COLUMNS)} FROM usage_entries",
                                   prefetch=50_000)
            batch: list[tuple[Any, ...]] = []
            async for row in cursor:
                batch.append(tuple(row))
                if len(batch) == 50_000:
                    _insert(target, "usage_entries", list(_ENTRY_COLUMNS), batch)
                    batch = []
            _insert(target, "usage_entries", list(_ENTRY_COLUMNS), batch)
        target.commit()
    finally:
        target.close()
        await source.close()


def _insert(target: sqlite3.Connection, table: str, columns: list[str],
            rows: list[tuple[Any, ...]]) -> None:
    money = [i for i, name in enumerate(columns) if name in _MONEY]
    converted = [tuple(to_nanos(v) if i in money and isinstance(v, Decimal) else v
                       for i, v in enumerate(row)) for row in rows]
    marks = ", ".join("?" for _ in columns)
    target.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", converted)
