"""Benchmark: events/s recorded through POST /api/v1/usage/events (a real `usagebook serve` on
loopback, batches of 1000) on PostgreSQL, beside the raw database's own bulk paths in the same
run: COPY, and COPY into a temporary table then INSERT ... ON CONFLICT DO NOTHING.

    .venv/bin/python -m bench.record [--events 100000] [--accounts 8] [--concurrency 8] [--watched]

A scratch database (`usagebook_bench_record`) is created, migrated and dropped at the end. The
endpoint's batches go round-robin over `--accounts` accounts (one account per batch, as an
inference platform's traffic spans accounts), `--concurrency` requests in flight, once to
`usagebook serve --workers 1` and once to `--workers 2` (new request ids each time). Bodies
are serialised before the clock starts, and the CPU time of the server's processes and of
PostgreSQL's is read from /proc around each run. Afterwards every account must hold exactly
its events and its balances must reconcile (grants - the exact sum of its charges), or the
run fails. With `--watched` every account and key has something for alerts to watch (a key
limit, account monthly limits, a balance alert; thresholds crossed early in the run, so later
batches also pay the refused crossings): the worst case of what alerts cost recording.
The raw paths write the same rows, 1000 per transaction, with no projection (no balances,
counts or rollups) and no validation: they are the floor the endpoint is compared with.
Figures go to docs/performance.md, section "Recording".
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson

from bench._proc import postgres_cpu, server_cpu
from tests.support.servers import UsagebookServer
from usagebook.ledger.accounts import create_account
from usagebook.ledger.alerts import AlertSettings, put_settings
from usagebook.ledger.balances import audit, grant_credit, set_diem_allocation
from usagebook.ledger.catalog import DEMO_CATALOG, upsert_catalog
from usagebook.ledger.key_usage import LimitPeriod
from usagebook.ledger.keys import KeyLimits, KeyOptions, KeyType, create_key
from usagebook.ledger.limits import set_limits
from usagebook.money import charge_amount
from usagebook.settings import Settings
from usagebook.store.engine import create_database
from usagebook.store.entries import EntryFilter, count_entries
from usagebook.store.limits import AccountLimits
from usagebook.store.migrate import upgrade
from usagebook.timeutil import now_ms

ROOT = Path(__file__).resolve().parents[1]
SERVER = os.environ.get("USAGEBOOK_BENCH_POSTGRES", "postgresql://127.0.0.1:5432")
DATABASE = os.environ.get("USAGEBOOK_BENCH_RECORD_DATABASE", "usagebook_bench_record")
BATCH = 1000
WORKERS = (1, 2)
DOCS = ROOT / "docs" / "performance.md"
SECTION = "## Recording (bench/record.py)"
LOG = ROOT / "bench" / "results" / "record-server.log"
COLUMNS = ("account_id", "api_key_id", "ts_ms", "sku", "price_per_unit_usd", "units", "amount",
           "currency", "notes", "request_id", "execution_ms", "prompt_tokens",
           "completion_tokens")


def _option(name: str, default: int) -> int:
    return int(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


def main() -> None:
    events = _option("--events", 100_000)
    account_count = _option("--accounts", 8)
    concurrency = _option("--concurrency", 8)
    url = f"{SERVER}/{DATABASE}"
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
    asyncio.run(_admin(f'CREATE DATABASE "{DATABASE}"'))
    try:
        settings = Settings.from_env({}, database_url=url, secret_key=secrets.token_hex(16))
        upgrade(settings.database_url)
        accounts = asyncio.run(_setup(settings, account_count, watched="--watched" in sys.argv))
        token = secrets.token_hex(16)
        runs = [_endpoint_run(url, settings, token, _bodies(accounts, events, f"w{workers}"),
                              workers, concurrency) for workers in WORKERS]
        asyncio.run(_verify(settings, accounts, events * len(WORKERS)))
        rows = _rows(events)
        copy = asyncio.run(_raw(url, rows, temp_table=False))
        upsert = asyncio.run(_raw(url, rows, temp_table=True))
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
    _report(events, account_count, concurrency, runs, copy, upsert)


@dataclass(frozen=True)
class EndpointRun:
    workers: int
    seconds: float
    server_cpu: float
    database_cpu: float


def _endpoint_run(url: str, settings: Settings, token: str, bodies: list[bytes], workers: int,
                  concurrency: int) -> EndpointRun:
    LOG.parent.mkdir(parents=True, exist_ok=True)
    LOG.write_bytes(b"")
    # An empty USAGEBOOK_REDIS_URL is none: the endpoint is measured without Redis.
    env = {"USAGEBOOK_DATABASE_URL": url, "USAGEBOOK_SECRET_KEY": settings.secret_key or "",
           "USAGEBOOK_OPERATOR_TOKEN": token, "USAGEBOOK_RATE_LIMIT_PER_MINUTE": "0",
           "USAGEBOOK_REDIS_URL": ""}
    server = UsagebookServer(env, LOG, args=("--workers", str(workers)))
    server.start(timeout=60)
    assert server.process is not None
    pid = server.process.pid
    try:
        server_before, database_before = server_cpu(pid), postgres_cpu(DATABASE)
        seconds = asyncio.run(_send(server.base_url, token, bodies, concurrency))
        server_seconds = server_cpu(pid) - server_before
        database_cpu = postgres_cpu(DATABASE) - database_before
    finally:
        server.stop()
    return EndpointRun(workers, seconds, server_seconds, database_cpu)


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(f"{SERVER}/postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _setup(settings: Settings, count: int, *, watched: bool) -> list[tuple[str, str]]:
    """Accounts with a DIEM allocation, bundled credits and USD, so that every batch crosses
    from one currency to the next (the consumption order's work is part of what is timed)."""
    db = create_database(settings)
    made = []
    try:
        await upsert_catalog(db, DEMO_CATALOG)
        for n in range(count):
            account = await create_account(db, f"bench {n}")
            options = KeyOptions("platform", limits=KeyLimits(usd=Decimal(100), diem=Decimal(4)),
                                 limit_period=LimitPeriod.MONTH) if watched else None
            key = await create_key(db, account.id, KeyType.INFERENCE, "platform",
                                   options=options)
            await set_diem_allocation(db, account.id, "5")
            await grant_credit(db, account.id, "BUNDLED_CREDITS", "20", "bench")
            await grant_credit(db, account.id, "USD", "1000", "bench")
            if watched:
                await set_limits(db, account.id, AccountLimits(Decimal(200), Decimal(8)))
                await put_settings(db, account.id, AlertSettings(
                    (50, 80, 100), {"USD": Decimal(995), "BUNDLED_CREDITS": Decimal(10)}))
            made.append((account.id, key.row.id))
    finally:
        await db.dispose()
    return made


def _bodies(accounts: list[tuple[str, str]], events: int, tag: str) -> list[bytes]:
    rng = random.Random(5)
    skus = [row.sku for row in DEMO_CATALOG]
    bodies = []
    for start in range(0, events, BATCH):
        _account, key_id = accounts[(start // BATCH) % len(accounts)]
        batch = [{"requestId": f"{tag}-{start + i}", "sku": rng.choice(skus),
                  "units": str(Decimal(rng.randint(1, 40_000)).scaleb(-6)), "apiKeyId": key_id,
                  "inferenceExecutionTime": rng.randint(80, 9000),
                  "promptTokens": rng.randint(10, 40_000), "completionTokens": rng.randint(1, 900)}
                 for i in range(min(BATCH, events - start))]
        bodies.append(orjson.dumps({"events": batch}))
    return bodies


async def _send(base_url: str, token: str, bodies: list[bytes], concurrency: int) -> float:
    """Seconds to record every body, `concurrency` requests in flight."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            answer = await client.post("/api/v1/usage/events", content=body, headers=headers)
            assert answer.status_code == 200, answer.text[:500]
            assert answer.content.count(b'"recorded"') == body.count(b'"requestId"')

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        return time.perf_counter() - started


async def _verify(settings: Settings, accounts: list[tuple[str, str]], events: int) -> None:
    db = create_database(settings)
    try:
        total = 0
        for account_id, _key in accounts:
            async with db.read() as conn:
                total += await count_entries(conn, EntryFilter(account_id))
            mismatches = (await audit(db, account_id)).mismatches
            assert not mismatches, mismatches
        assert total == events, (total, events)
    finally:
        await db.dispose()


def _rows(events: int) -> list[tuple[Any, ...]]:
    rng = random.Random(6)
    stamp = now_ms()
    made = []
    for i in range(events):
        sku = rng.choice(DEMO_CATALOG)
        units = Decimal(rng.randint(1, 40_000)).scaleb(-6)
        made.append((None, None, stamp, sku.sku, sku.price_per_unit_usd, units,
                     charge_amount(sku.price_per_unit_usd, units), "USD", None, f"raw-{i}",
                     rng.randint(80, 9000), rng.randint(10, 40_000), rng.randint(1, 900)))
    return made


async def _raw(url: str, rows: list[tuple[Any, ...]], *, temp_table: bool) -> float:
    """Seconds to write the rows 1000 per transaction: straight COPY, or COPY into a temporary
    table followed by INSERT ... SELECT ... ON CONFLICT DO NOTHING (idempotent, like recording;
    on the partitioned ledger the conflict is on the idempotency keys, as in recording)."""
    account = "acct_raw_upsert" if temp_table else "acct_raw_copy"
    records = [(account, *row[1:]) for row in rows]
    conn = await asyncpg.connect(url)
    columns = ", ".join(COLUMNS)
    try:
        if temp_table:
            await conn.execute(f"CREATE TEMP TABLE staged AS SELECT {columns} FROM usage_entries "
                               "WITH NO DATA")
            upsert = (f"INSERT INTO usage_entries ({columns}) SELECT {columns} FROM staged "
                      "ON CONFLICT (account_id, request_id, sku) DO NOTHING")
            if await conn.fetchval("SELECT to_regclass('usage_request_keys') IS NOT NULL"):
                # The partitioned ledger (revision 0011): the key is claimed apart, as
                # store.write_postgresql does.
                picked = ", ".join(f"s.{name}" for name in COLUMNS)
                upsert = (
                    "WITH claimed AS (INSERT INTO usage_request_keys (account_id, request_id, "
                    "sku, entry_id, ts_ms) SELECT account_id, request_id, sku, "
                    "nextval('usage_entries_id_seq'), ts_ms FROM staged ON CONFLICT DO NOTHING "
                    "RETURNING account_id, request_id, sku, entry_id) "
                    f"INSERT INTO usage_entries (id, {columns}) SELECT c.entry_id, {picked} "
                    "FROM staged AS s JOIN claimed AS c USING (account_id, request_id, sku)")
        started = time.perf_counter()
        for start in range(0, len(records), BATCH):
            chunk = records[start : start + BATCH]
            async with conn.transaction():
                if not temp_table:
                    await conn.copy_records_to_table("usage_entries", records=chunk,
                                                     columns=COLUMNS)
                    continue
                await conn.copy_records_to_table("staged", records=chunk, columns=COLUMNS)
                await conn.execute(upsert)
                await conn.execute("TRUNCATE staged")
        return time.perf_counter() - started
    finally:
        await conn.close()


def _report(events: int, accounts: int, concurrency: int, runs: list[EndpointRun],
            copy: float, upsert: float) -> None:
    copy_rate, upsert_rate = events / copy, events / upsert
    command = "`.venv/bin/python -m bench.record"
    command += f" --events {events} --accounts {accounts} --concurrency {concurrency}"
    command += " --watched`" if "--watched" in sys.argv else "`"
    lines = [
        SECTION,
        "",
        f"{command} ({datetime.now(tz=UTC):%Y-%m-%d %H:%M} UTC): {events:,} events on "
        f"PostgreSQL in batches of {BATCH}, {concurrency} requests in flight, one run, the "
        "paths one after the other into the same table. Load average (1 min) at the end: "
        f"{os.getloadavg()[0]:.1f} on 2 cores, shared with the other engineers' work.",
        "",
        "| path | events/s | seconds | endpoint vs COPY | vs COPY + ON CONFLICT "
        "| server CPU per event | PostgreSQL CPU per event |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        rate = events / run.seconds
        lines.append(
            f"| POST /api/v1/usage/events, `usagebook serve --workers {run.workers}` | "
            f"{rate:,.0f} | {run.seconds:.2f} | {rate / copy_rate:.2f}x | "
            f"{rate / upsert_rate:.2f}x | {run.server_cpu / events * 1e6:.0f} us | "
            f"{run.database_cpu / events * 1e6:.0f} us |")
    lines += [
        f"| raw COPY into usage_entries | {copy_rate:,.0f} | {copy:.2f} | 1x | | | |",
        f"| raw COPY into a temp table + INSERT ... ON CONFLICT DO NOTHING | "
        f"{upsert_rate:,.0f} | {upsert:.2f} | | 1x | | |",
        "",
    ]
    text = DOCS.read_text()
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    old = text[start:end] if end != -1 else text[start:]
    notes = old.split("<!-- notes -->", 1)[1] if "<!-- notes -->" in old else "\n"
    body = "\n".join(lines) + "<!-- notes -->" + notes
    DOCS.write_text(text[:start] + body.rstrip("\n") + "\n" + (text[end:] if end != -1 else ""))
    print("\n".join(lines))
    print(f"server log: {LOG}")


if __name__ == "__main__":
    main()
