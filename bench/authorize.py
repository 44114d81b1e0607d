"""Benchmark: authorize calls/s through POST /api/v1/usage/authorize (a real `usagebook serve
--workers 2` on loopback, PostgreSQL) over many keys and over one hot key, p50 and p99, next to
the same transaction written as raw SQL with asyncpg in the same run.

    .venv/bin/python -m bench.authorize [--seconds 10] [--accounts 100] [--keys 10]
                                        [--concurrency 32]

A scratch database (`usagebook_bench_authorize`) is created, migrated and dropped at the end.
Every key has a USD limit (EPOCH) and every account USD credit, both far from reached, so each
call does the whole decision (balance, live holds, the key's spend in its window) and is
granted. Each call carries a new requestId and an amount; holds last `--hold-seconds` (60) and
are not settled, so live holds pile up as they would with inference calls in flight (their
count at the end is printed). A closed loop: `--concurrency` clients, each sending its next
call when the previous one is answered. The raw path runs the same statements as the endpoint
(lock the key's account, read the state in one statement, insert the hold) over an asyncpg
pool, with no HTTP, no validation and no Python decision beyond "insert": the floor the
endpoint is compared with. At the end, for every key the holds granted never pass its limit
(checked by SQL over the holds table). Figures go to docs/performance.md, section "Authorize".
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import asyncpg
import httpx
import orjson

from bench._proc import postgres_cpu, server_cpu
from tests.support.servers import UsagebookServer
from usagebook.api.authorize_wire import parse_authorize
from usagebook.ledger.accounts import create_account
from usagebook.ledger.admission import authorize
from usagebook.ledger.balances import grant_credit
from usagebook.ledger.catalog import DEMO_CATALOG, upsert_catalog
from usagebook.ledger.keys import KeyLimits, KeyOptions, KeyType, create_key
from usagebook.ledger.ratelimit import RateLimiter
from usagebook.settings import Settings
from usagebook.store.admission_pg import INSERT_HOLD, LOCK_BY_ID, STATE_SQL
from usagebook.store.engine import create_database
from usagebook.store.migrate import upgrade
from usagebook.timeutil import MS_PER_DAY, now_ms

ROOT = Path(__file__).resolve().parents[1]
SERVER = os.environ.get("USAGEBOOK_BENCH_POSTGRES", "postgresql://127.0.0.1:5432")
DATABASE = "usagebook_bench_authorize"
DOCS = ROOT / "docs" / "performance.md"
SECTION = "## Authorize (bench/authorize.py)"
LOG = ROOT / "bench" / "results" / "authorize-server.log"
KEY_LIMIT = Decimal(1_000_000)
AMOUNT = "0.001"
PATH = "/api/v1/usage/authorize"
TRIVIAL = "GET /healthz"  # the framework's floor: no database, no body
LEDGER = "ledger.admission.authorize in process (no HTTP), many keys"


def _option(name: str, default: int) -> int:
    return int(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


@dataclass(frozen=True)
class Run:
    name: str
    calls: int
    seconds: float
    latencies_ms: list[float]
    failures: int
    server_cpu: float = 0.0
    database_cpu: float = 0.0

    @property
    def rate(self) -> float:
        return self.calls / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def main() -> None:
    seconds = _option("--seconds", 10)
    account_count, keys_per_account = _option("--accounts", 100), _option("--keys", 10)
    concurrency, hold_seconds = _option("--concurrency", 32), _option("--hold-seconds", 60)
    url = f"{SERVER}/{DATABASE}"
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
    asyncio.run(_admin(f'CREATE DATABASE "{DATABASE}"'))
    try:
        settings = Settings.from_env({}, database_url=url, secret_key=secrets.token_hex(16))
        upgrade(settings.database_url)
        keys = asyncio.run(_setup(settings, account_count, keys_per_account))
        hot = asyncio.run(_setup(settings, 1, 1))
        token = secrets.token_hex(16)
        server = _start(url, settings, token)
        try:
            assert server.process is not None
            pid = server.process.pid
            runs = []
            for name, chosen in (("many keys", keys), ("one hot key", hot), (TRIVIAL, [])):
                before, database_before = server_cpu(pid), postgres_cpu(DATABASE)
                run = asyncio.run(_endpoint(server.base_url, token, chosen, seconds,
                                            concurrency, hold_seconds, name))
                runs.append(Run(run.name, run.calls, run.seconds, run.latencies_ms,
                                run.failures, server_cpu(pid) - before,
                                postgres_cpu(DATABASE) - database_before))
        finally:
            server.stop()
        runs.append(asyncio.run(_ledger(settings, keys, seconds, concurrency, hold_seconds)))
        for name, chosen in (("many keys", keys), ("one hot key", hot)):
            runs.append(asyncio.run(_raw(url, chosen, seconds, concurrency, hold_seconds,
                                         f"raw SQL, {name}")))
        live = asyncio.run(_check(url))
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
    _report(runs, seconds, account_count, keys_per_account, concurrency, hold_seconds, live)


def _start(url: str, settings: Settings, token: str) -> UsagebookServer:
    LOG.parent.mkdir(parents=True, exist_ok=True)
    LOG.write_bytes(b"")
    env = {"USAGEBOOK_DATABASE_URL": url, "USAGEBOOK_SECRET_KEY": settings.secret_key or "",
           "USAGEBOOK_OPERATOR_TOKEN": token, "USAGEBOOK_RATE_LIMIT_PER_MINUTE": "0",
           "USAGEBOOK_REDIS_URL": ""}
    server = UsagebookServer(env, LOG, args=("--workers", "2"))
    server.start(timeout=90)
    return server


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(f"{SERVER}/postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _setup(settings: Settings, accounts: int, per_account: int) -> list[tuple[str, str]]:
    """(account, key) pairs: every key limited to KEY_LIMIT USD a day, every account rich."""
    db = create_database(settings)
    made = []
    options = KeyOptions("bench", limits=KeyLimits(usd=KEY_LIMIT))
    try:
        await upsert_catalog(db, DEMO_CATALOG)
        for n in range(accounts):
            account = await create_account(db, f"bench {n}")
            await grant_credit(db, account.id, "USD", "1000000000", "bench")
            for _ in range(per_account):
                key = await create_key(db, account.id, KeyType.INFERENCE, options=options)
                made.append((account.id, key.row.id))
    finally:
        await db.dispose()
    return made


async def _endpoint(base_url: str, token: str, keys: list[tuple[str, str]], seconds: int,
                    concurrency: int, hold_seconds: int, name: str) -> Run:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    latencies: list[float] = []
    failures = 0
    rng = random.Random(7)

    async def client_loop(client: httpx.AsyncClient, deadline: float) -> None:
        nonlocal failures
        while time.perf_counter() < deadline:
            if not keys:
                started = time.perf_counter()
                answer = await client.get("/healthz")
                latencies.append((time.perf_counter() - started) * 1000)
                failures += answer.status_code != 200
                continue
            _account, key_id = rng.choice(keys)
            body = orjson.dumps({"apiKeyId": key_id, "estimate": {"amount": AMOUNT},
                                 "holdSeconds": hold_seconds, "requestId": uuid.uuid4().hex})
            started = time.perf_counter()
            answer = await client.post(PATH, content=body, headers=headers)
            latencies.append((time.perf_counter() - started) * 1000)
            failures += answer.status_code != 200

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client:
        await client.post(PATH, content=b"{}", headers=headers)  # warm both workers' pools
        started = time.perf_counter()
        deadline = started + seconds
        await asyncio.gather(*(client_loop(client, deadline) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return Run(name, len(latencies), elapsed, latencies, failures)


async def _ledger(settings: Settings, keys: list[tuple[str, str]], seconds: int,
                  concurrency: int, hold_seconds: int) -> Run:
    """`ledger.admission.authorize` called in this process (no HTTP), on the body read as the
    route reads it: its CPU per call is what the server spends beside the web framework."""
    db = create_database(settings)
    limiter = RateLimiter(0)
    latencies: list[float] = []
    rng = random.Random(9)

    async def client_loop(deadline: float) -> None:
        while time.perf_counter() < deadline:
            _account, key_id = rng.choice(keys)
            body = {"apiKeyId": key_id, "estimate": {"amount": AMOUNT},
                    "holdSeconds": hold_seconds, "requestId": uuid.uuid4().hex}
            started = time.perf_counter()
            await authorize(db, limiter, parse_authorize(body))
            latencies.append((time.perf_counter() - started) * 1000)

    try:
        await client_loop(time.perf_counter() + 0.5)  # connect first: backends' CPU is counted
        latencies.clear()
        cpu_before, database_before = time.process_time(), postgres_cpu(DATABASE)
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(started + seconds) for _ in range(concurrency)))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_before
        database = postgres_cpu(DATABASE) - database_before  # before the backends exit
    finally:
        await db.dispose()
    return Run(LEDGER, len(latencies), elapsed, latencies, 0, cpu, database)


async def _raw(url: str, keys: list[tuple[str, str]], seconds: int, concurrency: int,
               hold_seconds: int, name: str) -> Run:
    """The endpoint's transaction as asyncpg calls: lock, one state read, insert, commit."""
    latencies: list[float] = []
    rng = random.Random(8)
    amount = Decimal(AMOUNT)
    pool = await asyncpg.create_pool(url, min_size=concurrency, max_size=concurrency,
                                     server_settings={"plan_cache_mode": "force_custom_plan",
                                                      "jit": "off"})

    async def client_loop(deadline: float) -> None:
        while time.perf_counter() < deadline:
            account_id, key_id = rng.choice(keys)
            started = time.perf_counter()
            now = now_ms()
            async with pool.acquire() as conn, conn.transaction():
                await conn.fetchrow(LOCK_BY_ID, key_id)
                await conn.fetch(STATE_SQL, account_id, now // MS_PER_DAY, key_id, now, True,
                                 now - now % MS_PER_DAY, now - now % MS_PER_DAY + MS_PER_DAY,
                                 False, 0, 0, [], uuid.uuid4().hex)
                await conn.execute(INSERT_HOLD, "hold_" + secrets.token_hex(12), account_id,
                                   key_id, "USD", amount, now, now + hold_seconds * 1000, None,
                                   uuid.uuid4().hex, "x")
            latencies.append((time.perf_counter() - started) * 1000)

    try:
        database_before = postgres_cpu(DATABASE)
        started = time.perf_counter()
        deadline = started + seconds
        await asyncio.gather(*(client_loop(deadline) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        database = postgres_cpu(DATABASE) - database_before  # before the backends exit
    finally:
        await pool.close()
    return Run(name, len(latencies), elapsed, latencies, 0, 0.0, database)


async def _check(url: str) -> int:
    """No key's holds pass its limit; returns the number of live holds left."""
    conn = await asyncpg.connect(url)
    try:
        over = await conn.fetchval(
            "SELECT count(*) FROM (SELECT h.api_key_id FROM holds h JOIN api_keys k "
            "ON k.id = h.api_key_id GROUP BY h.api_key_id, k.consumption_limit_usd "
            "HAVING sum(h.amount) > k.consumption_limit_usd) AS o")
        assert over == 0, f"{over} keys hold more than their limit"
        live: int = await conn.fetchval(
            "SELECT count(*) FROM holds WHERE settled_ms IS NULL AND expires_ms > $1", now_ms())
        return live
    finally:
        await conn.close()


def _report(runs: list[Run], seconds: int, accounts: int, keys: int, concurrency: int,
            hold_seconds: int, live: int) -> None:
    raw = {run.name.removeprefix("raw SQL, "): run for run in runs if run.name.startswith("raw")}
    command = (f"`.venv/bin/python -m bench.authorize --seconds {seconds} --accounts {accounts} "
               f"--keys {keys} --concurrency {concurrency} --hold-seconds {hold_seconds}`")
    lines = [
        SECTION,
        "",
        f"{command} ({datetime.now(tz=UTC):%Y-%m-%d %H:%M} UTC): PostgreSQL, "
        f"`usagebook serve --workers 2`, {concurrency} clients in a closed loop for {seconds} s "
        f"per run, {accounts * keys:,} keys over {accounts} accounts, then one hot key; every "
        f"call granted; {live:,} live holds at the end. Load average (1 min) at the end: "
        f"{os.getloadavg()[0]:.1f} on 2 cores, shared with the other engineers' work.",
        "",
        "| path | calls/s | p50 ms | p99 ms | vs raw SQL (same keys) | CPU per call (server, or "
        "this process in process) | PostgreSQL CPU per call | failures |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        floor = raw.get(run.name) or (raw.get("many keys") if run.name == LEDGER else None)
        ratio = f"{run.rate / floor.rate:.2f}x" if floor else ("" if run.name == TRIVIAL else "1x")
        cpu = f"{run.server_cpu / run.calls * 1e6:,.0f} us" if run.server_cpu else ""
        database = ("" if run.name == TRIVIAL or not run.database_cpu
                    else f"{run.database_cpu / run.calls * 1e6:,.0f} us")
        plain = run.name.startswith(("raw", "GET", "ledger"))
        path = run.name if plain else f"POST {PATH}, {run.name}"
        lines.append(f"| {path} | {run.rate:,.0f} | {statistics.median(run.latencies_ms):.1f} | "
                     f"{run.percentile(0.99):.1f} | {ratio} | {cpu} | {database} | "
                     f"{run.failures} |")
    lines.append("")
    text = DOCS.read_text()
    if SECTION not in text:
        text = text.rstrip("\n") + "\n\n" + SECTION + "\n"
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    old = text[start:end] if end != -1 else text[start:]
    notes = old.split("<!-- notes -->", 1)[1] if "<!-- notes -->" in old else "\n"
    body = "\n".join(lines) + "<!-- notes -->" + notes
    DOCS.write_text(text[:start] + body.rstrip("\n") + "\n" + (text[end:] if end != -1 else ""))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
