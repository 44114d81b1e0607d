"""Benchmark: a bounded mixed load on loopback through a real `usagebook serve` (one uvicorn
process) on PostgreSQL, with Redis for the rate limits and the analytics cache.

    .venv/bin/python -m bench.load [--duration 60] [--readers 6] [--writers 2]

Readers loop over the four billing endpoints (usage, usage-history, usage-analytics, balance)
for random accounts; writers record batches of events for random accounts through the operator
endpoint. Each client sends its next request when the previous one is answered (a closed loop,
so the load stays bounded on a shared 2-core machine). The rate limit stays on (Redis-counted)
at a limit the load cannot reach: its cost is part of every customer request.

At the end the ledger is reconciled: the entries stored equal the seeded ones plus every event
answered `recorded`, and for every account and currency, the grants listed by /billing/credits
minus the exact sum of the entries (summed by PostgreSQL, not by usagebook) equal the balance
/billing/credits reports; DIEM left today equals the allocation minus today's DIEM charges.
Figures go to docs/performance.md, section "Mixed load".
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.factories import random_entries, store_entries
from tests.support.servers import UsagebookServer
from usagebook.ledger.accounts import create_account
from usagebook.ledger.balances import grant_credit, set_diem_allocation
from usagebook.ledger.catalog import DEMO_CATALOG, upsert_catalog
from usagebook.ledger.keys import KeyType, create_key
from usagebook.settings import Settings
from usagebook.store.engine import create_database
from usagebook.store.migrate import upgrade
from usagebook.timeutil import MS_PER_DAY, now_ms

SERVER = "postgresql://127.0.0.1:5432"
DATABASE = "usagebook_load"
REDIS_URL = "redis://127.0.0.1:6379/0"
OPERATOR_TOKEN = "load-operator-" + secrets.token_hex(16)
SECRET_KEY = "load-secret-" + secrets.token_hex(16)
READ_PATHS = ("usage", "usage-history", "usage-analytics", "balance")


@dataclass
class Account:
    id: str
    admin_key: str
    diem_allocation: Decimal | None

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_key}"}


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    recorded: int = 0
    duplicates: int = 0

    def note(self, kind: str, seconds: float, problem: str | None) -> None:
        self.latencies[kind].append(seconds)
        if problem:
            self.errors[kind].append(problem)


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(f"{SERVER}/test", timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def prepare(accounts: int, seeded: int) -> list[Account]:
    """A fresh database: schema, catalog, accounts with keys, grants, allocations, old usage."""
    await _admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    await _admin(f'CREATE DATABASE "{DATABASE}"')
    settings = Settings.from_env({}, database_url=f"{SERVER}/{DATABASE}", secret_key=SECRET_KEY)
    await asyncio.to_thread(upgrade, settings.database_url)
    db = create_database(settings)
    made = []
    try:
        await upsert_catalog(db, DEMO_CATALOG)
        for n in range(accounts):
            account = await create_account(db, f"load {n}")
            key = await create_key(db, account.id, KeyType.ADMIN, f"load key {n}")
            await grant_credit(db, account.id, "USD", Decimal(50 + n), "load grant")
            if n % 3 == 0:
                await grant_credit(db, account.id, "BUNDLED_CREDITS", Decimal("0.75"), "bundle")
            allocation = Decimal("0.5") if n % 2 == 0 else None
            await set_diem_allocation(db, account.id, allocation)
            entries = random_entries(account.id, seeded // accounts, seed=n,
                                     key_ids=(None, key.row.id))
            for start in range(0, len(entries), 1000):
                await store_entries(db, entries[start:start + 1000])
            made.append(Account(account.id, key.secret, allocation))
    finally:
        await db.dispose()
    return made


async def reader(client: httpx.AsyncClient, accounts: list[Account], tally: Tally,
                 until: float, rng: random.Random) -> None:
    while time.monotonic() < until:
        account = rng.choice(accounts)
        kind = rng.choice(READ_PATHS)
        choices: dict[str, dict[str, Any]] = {
            "usage": {"limit": rng.choice((10, 50, 200)), "page": rng.randint(1, 5)},
            "usage-history": {"pageSize": rng.choice((10, 100, 500))},
            "usage-analytics": {"lookback": rng.choice(("1d", "7d", "30d", "90d"))},
            "balance": {},
        }
        params = choices[kind]
        await timed(client, tally, kind, "GET", f"/api/v1/billing/{kind}", params=params,
                    headers=account.auth)


async def writer(client: httpx.AsyncClient, accounts: list[Account], tally: Tally,
                 until: float, rng: random.Random, batch: int) -> None:
    headers = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    while time.monotonic() < until:
        events = [{"requestId": uuid.uuid4().hex, "sku": rng.choice(DEMO_CATALOG).sku,
                   "units": str(Decimal(rng.randint(1, 99_999)).scaleb(-rng.choice((0, 3, 6)))),
                   "accountId": rng.choice(accounts).id, "promptTokens": rng.randint(1, 9000)}
                  for _ in range(batch)]
        body = await timed(client, tally, "record", "POST", "/api/v1/usage/events",
                           json={"events": events}, headers=headers)
        if body is not None:
            statuses = [result["status"] for result in body["results"]]
            tally.recorded += statuses.count("recorded")
            tally.duplicates += len(statuses) - statuses.count("recorded")


async def timed(client: httpx.AsyncClient, tally: Tally, kind: str, method: str, path: str,
                **kwargs: Any) -> Any:
    started = time.perf_counter()
    try:
        answer = await client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        tally.note(kind, time.perf_counter() - started, type(exc).__name__)
        return None
    problem = None if answer.status_code == 200 else f"{answer.status_code} {answer.text[:120]}"
    tally.note(kind, time.perf_counter() - started, problem)
    return answer.json() if problem is None and kind == "record" else None


async def run_load(base_url: str, accounts: list[Account], args: argparse.Namespace) -> Tally:
    tally = Tally()
    until = time.monotonic() + args.duration
    limits = httpx.Limits(max_connections=args.readers + args.writers)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as client:
        rngs = [random.Random(n) for n in range(args.readers + args.writers)]
        await asyncio.gather(
            *(reader(client, accounts, tally, until, rngs[n]) for n in range(args.readers)),
            *(writer(client, accounts, tally, until, rngs[args.readers + n], args.batch)
              for n in range(args.writers)),
        )
    return tally


async def reconcile(base_url: str, accounts: list[Account], expected_entries: int) -> list[str]:
    """Every mismatch between the ledger (summed by PostgreSQL) and the balances served."""
    problems = []
    conn = await asyncpg.connect(f"{SERVER}/{DATABASE}", timeout=10)
    try:
        stored = await conn.fetchval("SELECT count(*) FROM usage_entries")
        sums = {(r["account_id"], r["currency"]): r["total"] for r in await conn.fetch(
            "SELECT account_id, currency, sum(amount) AS total FROM usage_entries "
            "GROUP BY account_id, currency")}
        today = now_ms() // MS_PER_DAY * MS_PER_DAY
        diem_today = {r["account_id"]: r["total"] for r in await conn.fetch(
            "SELECT account_id, sum(amount) AS total FROM usage_entries WHERE currency = 'DIEM' "
            "AND ts_ms >= $1 AND ts_ms < $2 GROUP BY account_id", today, today + MS_PER_DAY)}
    finally:
        await conn.close()
    if stored != expected_entries:
        problems.append(f"{stored} entries stored, {expected_entries} expected")
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        for account in accounts:
            credits = (await client.get("/api/v1/billing/credits", headers=account.auth)).json(
                parse_float=Decimal)
            for currency in ("USD", "BUNDLED_CREDITS"):
                grants = sum((Decimal(str(g["amount"])) for g in credits["grants"]
                              if g["currency"] == currency), Decimal(0))
                ledger = grants + sums.get((account.id, currency), Decimal(0))
                served = Decimal(str(credits["balances"][currency]))
                if ledger != served:
                    problems.append(f"{account.id} {currency}: served {served}, ledger {ledger}")
            if account.diem_allocation is not None:
                left = account.diem_allocation + diem_today.get(account.id, Decimal(0))
                served = Decimal(str(credits["balances"]["DIEM"]))
                if left != served:
                    problems.append(f"{account.id} DIEM today: served {served}, ledger {left}")
    return problems


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def server_means(exposition: str) -> dict[str, float]:
    """Mean time the server itself spent per answer, by route, from its /metrics histogram."""
    sums: dict[str, float] = defaultdict(float)
    counts: dict[str, float] = defaultdict(float)
    for family in text_string_to_metric_families(exposition):
        if family.name != "usagebook_http_request_duration_seconds":
            continue
        for sample in family.samples:
            route = sample.labels["route"].rsplit("/", 1)[-1]
            if sample.name.endswith("_sum"):
                sums[route] += sample.value
            elif sample.name.endswith("_count"):
                counts[route] += sample.value
    return {route: sums[route] / counts[route] * 1000 for route in counts if counts[route]}


def report(tally: Tally, args: argparse.Namespace, seconds: float, problems: list[str],
           served: dict[str, float]) -> str:
    lines = ["| requests | count | per second | p50 ms | p99 ms | server mean ms | errors |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    every: list[float] = []
    for kind in (*READ_PATHS, "record"):
        found = tally.latencies.get(kind, [])
        every += found
        if found:
            inside = served.get("events" if kind == "record" else kind, 0.0)
            lines.append(f"| {kind} | {len(found)} | {len(found) / seconds:.1f} | "
                         f"{percentile(found, 0.5):.1f} | {percentile(found, 0.99):.1f} | "
                         f"{inside:.1f} | {len(tally.errors.get(kind, []))} |")
    errors = sum(len(found) for found in tally.errors.values())
    lines.append(f"| **all** | {len(every)} | {len(every) / seconds:.1f} | "
                 f"{percentile(every, 0.5):.1f} | {percentile(every, 0.99):.1f} | | {errors} |")
    lines.append("")
    lines.append(f"{args.readers} readers and {args.writers} writers (batches of {args.batch}) "
                 f"for {seconds:.0f} s; {tally.recorded} events recorded "
                 f"({tally.recorded / seconds:.0f}/s), {tally.duplicates} duplicates. "
                 f"Reconciliation: {'exact' if not problems else f'{len(problems)} mismatches'}"
                 f" (mean latency {statistics.fmean(every) * 1000:.1f} ms). Load average "
                 f"(1 min) at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores.")
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> int:
    print(f"preparing {args.accounts} accounts and {args.seeded} entries ...", flush=True)
    accounts = await prepare(args.accounts, args.seeded)
    seeded = args.seeded // args.accounts * args.accounts
    with tempfile.TemporaryDirectory() as tmp:
        server = UsagebookServer(server_env(), Path(tmp) / "server.log")
        server.start()
        try:
            print(f"loading for {args.duration} s ...", flush=True)
            started = time.monotonic()
            tally = await run_load(server.base_url, accounts, args)
            seconds = time.monotonic() - started
            problems = await reconcile(server.base_url, accounts, seeded + tally.recorded)
            served = server_means(httpx.get(server.base_url + "/metrics").text)
        finally:
            server.stop()
    print(report(tally, args, seconds, problems, served))
    for kind, found in tally.errors.items():
        print(f"errors in {kind}: {found[:3]}")
    for problem in problems[:10]:
        print("MISMATCH", problem)
    if args.limiter_cost:
        print(await limiter_cost(accounts, args.limiter_cost))
    await _admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    return 1 if problems or any(tally.errors.values()) else 0


async def limiter_cost(accounts: list[Account], seconds: float, rounds: int = 2) -> str:
    """Throughput of /billing/balance with the Redis-counted rate limit on, then off (ABAB, the
    same clients, one server process each time), as the ratio of the two."""
    rates: dict[str, list[float]] = defaultdict(list)
    for _ in range(rounds):
        for label, limit in (("on", "1000000"), ("off", "0")):
            with tempfile.TemporaryDirectory() as tmp:
                server = UsagebookServer({**server_env(), "USAGEBOOK_RATE_LIMIT_PER_MINUTE": limit},
                                         Path(tmp) / "server.log")
                server.start()
                try:
                    rates[label].append(await _balance_rate(server.base_url, accounts, seconds))
                finally:
                    server.stop()
    on, off = statistics.fmean(rates["on"]), statistics.fmean(rates["off"])
    return (f"Rate limit cost: /billing/balance with 4 clients, {seconds:.0f} s x {rounds} rounds "
            f"each way: {on:.1f} req/s with the Redis-counted limit, {off:.1f} req/s without "
            f"(ratio {on / off:.2f}).")


async def _balance_rate(base_url: str, accounts: list[Account], seconds: float) -> float:
    done = 0
    until = time.monotonic() + seconds

    async def client_loop(client: httpx.AsyncClient, account: Account) -> None:
        nonlocal done
        while time.monotonic() < until:
            answer = await client.get("/api/v1/billing/balance", headers=account.auth)
            assert answer.status_code == 200, answer.text
            done += 1

    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        await asyncio.gather(*(client_loop(client, accounts[n]) for n in range(4)))
    return done / seconds


def server_env() -> dict[str, str]:
    return {
        "USAGEBOOK_DATABASE_URL": f"{SERVER}/{DATABASE}", "USAGEBOOK_REDIS_URL": REDIS_URL,
        "USAGEBOOK_OPERATOR_TOKEN": OPERATOR_TOKEN, "USAGEBOOK_SECRET_KEY": SECRET_KEY,
        "USAGEBOOK_RATE_LIMIT_PER_MINUTE": "1000000",
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--readers", type=int, default=6)
    parser.add_argument("--writers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--seeded", type=int, default=20_000)
    parser.add_argument("--limiter-cost", type=float, default=0, metavar="SECONDS",
                        help="also compare /billing/balance with the rate limit on and off")
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
