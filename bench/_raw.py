"""The raw database running the minimal statements of each hot-path request, in the hot-path
benchmark's run: asyncpg (uvloop, `clients` connections in one process) or sqlite3 (`clients`
threads, a connection each), prepared statements, rows fetched into Python, nothing else."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

import asyncpg
import uvloop

from bench.dataset import BenchDataset
from usagebook.timeutil import MS_PER_DAY, now_ms

_KEY_AND_BALANCE = """SELECT k.id, k.account_id, k.key_type, k.revoked_ms, k.expires_ms,
 a.diem_allocation, d.consumed, b.currency, b.granted, b.consumed
FROM api_keys k JOIN accounts a ON a.id = k.account_id
LEFT JOIN diem_days d ON d.account_id = a.id AND d.day = {day}
LEFT JOIN account_balances b ON b.account_id = a.id
WHERE k.secret_hash = {hash}"""
_COLUMNS = ("id, ts_ms, sku, price_per_unit_usd, units, amount, currency, notes, request_id, "
            "execution_ms, prompt_tokens, completion_tokens")
_PAGE = ("SELECT " + _COLUMNS + " FROM usage_entries WHERE account_id = {a} "
         "ORDER BY ts_ms DESC, id DESC LIMIT 200")
_HISTORY = ("SELECT " + _COLUMNS + " FROM usage_entries WHERE account_id = {a} AND id <= {m} "
            "AND (ts_ms, id) > ({t}, {i}) ORDER BY ts_ms, id LIMIT 501")


def measure(backend: str, url: str, dataset: BenchDataset, seconds: float,
            clients: int) -> dict[str, Any]:
    """Per case: requests a second with `clients` at once ("... cN") or the mean latency of
    one client ("... c1", in ms)."""
    secret_hash = hashlib.sha256(dataset.admin_key.encode()).hexdigest()
    today = now_ms() // MS_PER_DAY
    if backend == "postgresql":
        return uvloop.run(_postgres(url, dataset, secret_hash, today, seconds, clients))
    return _sqlite(url.removeprefix("sqlite:///"), dataset, secret_hash, today, seconds, clients)


async def _postgres(url: str, dataset: BenchDataset, secret_hash: str, today: int,
                    seconds: float, clients: int) -> dict[str, Any]:
    settings = {"plan_cache_mode": "force_custom_plan", "jit": "off"}  # as usagebook's engine
    conns = [await asyncpg.connect(url, server_settings=settings) for _ in range(clients)]
    try:
        balance = _KEY_AND_BALANCE.format(day="$2", hash="$1")
        position = await _history_position(conns[0], dataset.account_id)
        history = _HISTORY.format(a="$1", m="$2", t="$3", i="$4")
        account = dataset.account_id

        async def in_transaction(conn: asyncpg.Connection) -> None:
            async with conn.transaction(readonly=True):
                await conn.fetch(balance, secret_hash, today)

        cases: dict[str, tuple[Callable[[asyncpg.Connection], Any], tuple[int, ...]]] = {
            "balance, one read-only transaction": (in_transaction, (clients,)),
            "balance, the statement alone": (
                lambda c: c.fetch(balance, secret_hash, today), (clients,)),
            "page": (lambda c: c.fetch(_PAGE.format(a="$1"), account), (1, clients)),
            "history": (lambda c: c.fetch(history, account, *position), (1,)),
        }
        found: dict[str, Any] = {}
        for name, (work, counts) in cases.items():
            for count in counts:
                found[f"{name} c{count}"] = await _pg_rate(conns[:count], work, seconds)
        return found
    finally:
        for conn in conns:
            await conn.close()


async def _history_position(conn: asyncpg.Connection, account_id: str) -> tuple[int, int, int]:
    """(max id, ts, id) a few pages of 500 into the walk, as the API's cursor holds."""
    top = await conn.fetchval("SELECT max(id) FROM usage_entries")
    row = await conn.fetchrow("SELECT ts_ms, id FROM usage_entries WHERE account_id = $1 "
                              "ORDER BY ts_ms, id OFFSET 1499 LIMIT 1", account_id)
    return int(top), int(row["ts_ms"]), int(row["id"])


async def _pg_rate(conns: list[asyncpg.Connection], work: Callable[[asyncpg.Connection], Any],
                   seconds: float) -> float:
    for conn in conns:  # prepare, warm
        await work(conn)
    done = 0
    deadline = time.perf_counter() + seconds

    async def client(conn: asyncpg.Connection) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await work(conn)
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(client(conn) for conn in conns))
    elapsed = time.perf_counter() - started
    return _figure(done, elapsed, len(conns))


def _figure(done: int, elapsed: float, clients: int) -> float:
    return elapsed / done * 1000 if clients == 1 else done / elapsed


def _sqlite(path: str, dataset: BenchDataset, secret_hash: str, today: int, seconds: float,
            clients: int) -> dict[str, Any]:
    balance = _KEY_AND_BALANCE.format(day="?", hash="?")
    page = _PAGE.format(a="?")
    history = _HISTORY.format(a="?", m="?", t="?", i="?")
    with sqlite3.connect(path) as conn:
        top = conn.execute("SELECT max(id) FROM usage_entries").fetchone()[0]
        ts, id_ = conn.execute("SELECT ts_ms, id FROM usage_entries WHERE account_id = ? "
                               "ORDER BY ts_ms, id LIMIT 1 OFFSET 1499",
                               (dataset.account_id,)).fetchone()
    cases: dict[str, tuple[str, tuple[Any, ...], tuple[int, ...]]] = {
        "balance, the statement alone": (balance, (today, secret_hash), (clients,)),
        "page": (page, (dataset.account_id,), (1, clients)),
        "history": (history, (dataset.account_id, top, ts, id_), (1,)),
    }
    found: dict[str, Any] = {}
    for name, (sql, args, counts) in cases.items():
        for count in counts:
            found[f"{name} c{count}"] = _sqlite_rate(path, sql, args, count, seconds)
    return found


def _sqlite_rate(path: str, sql: str, args: tuple[Any, ...], clients: int,
                 seconds: float) -> float:
    counts = [0] * clients
    deadline = time.perf_counter() + seconds

    def client(index: int) -> None:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute(sql, args).fetchall()
        while time.perf_counter() < deadline:
            conn.execute(sql, args).fetchall()
            counts[index] += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return _figure(sum(counts), time.perf_counter() - started, clients)
