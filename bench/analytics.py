"""Benchmark: 90-day usage analytics for the 5M-entry account on PostgreSQL, uncached, through
the HTTP API of a real `usagebook serve`, beside a plain GROUP BY over the raw entries.

    .venv/bin/python -m bench.analytics [--runs 25]

Uncached means computed: the server shares its cache through Redis, and the benchmark deletes
the answer's cache entry before each timed request (the same Redis round trips a cache miss
costs in production). The raw GROUP BYs (by day and currency, by SKU, by key) are what the
answer would cost without rollups; their by-day sums must equal the API's `byDate` exactly.
Figures go to docs/performance.md, section "Analytics".
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis

from bench._proc import cpu_seconds
from bench.dataset import BenchDataset, ensure_bench_account
from tests.support.servers import UsagebookServer
from usagebook.ledger.analytics.period import resolve_period
from usagebook.ledger.analytics.summary import analytics_cache_key
from usagebook.timeutil import MS_PER_DAY, day_start_ms

ROOT = Path(__file__).resolve().parents[1]
REDIS_URL = "redis://127.0.0.1:6379/0"
CACHE_PREFIX = "usagebook:"  # RedisCache's default
PATH = "/api/v1/billing/usage-analytics"
RAW_RUNS = 3
REFERENCE_DAY_GROUP_BY_MS = 2_460  # ../shared/limits.md: GROUP BY day+currency, 5M entries
DOCS = ROOT / "docs" / "performance.md"
SECTION = "## Analytics (bench/analytics.py)"
RAW_QUERIES = {
    "day x currency": "(ts_ms / 86400000) * 86400000, currency",
    "sku x currency": "sku, currency",
    "key x currency": "api_key_id, currency",
}


def main() -> None:
    runs = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 25
    dataset = ensure_bench_account()
    today = datetime.now(tz=UTC).date()
    period = resolve_period(today, "90d", None, None)
    key = CACHE_PREFIX + analytics_cache_key(dataset.account_id, period)
    log_path = ROOT / "bench" / "results" / "analytics-server.log"
    log_path.write_bytes(b"")
    server = UsagebookServer(
        {"USAGEBOOK_DATABASE_URL": dataset.database_url, "USAGEBOOK_SECRET_KEY": dataset.secret_key,
         "USAGEBOOK_REDIS_URL": REDIS_URL, "USAGEBOOK_RATE_LIMIT_PER_MINUTE": "0"}, log_path)
    server.start(timeout=60)
    try:
        api = _time_api(server, dataset, key, runs)
    finally:
        server.stop()
    first_ms, end_ms = day_start_ms(period.first), day_start_ms(period.last) + MS_PER_DAY
    raw, by_day = asyncio.run(_time_raw(dataset, first_ms, end_ms))
    _check_exact(api["body"], by_day)
    _report(api, raw, runs, log_path)


def _time_api(server: UsagebookServer, dataset: BenchDataset, key: str, runs: int
              ) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {dataset.admin_key}"}
    cache = redis.Redis.from_url(REDIS_URL)
    uncached, cached = [], []
    cpu: dict[str, float] = {}
    body: Any = None
    assert server.process is not None
    pid = server.process.pid
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=60) as client:
        for n in range(runs + 3):  # three warm-up requests, not timed
            if n == 3:
                cpu_before = cpu_seconds(pid)
            cache.delete(key)
            started = time.perf_counter()
            answer = client.get(PATH, params={"lookback": "90d"})
            elapsed = time.perf_counter() - started
            assert answer.status_code == 200, answer.text
            if n >= 3:
                uncached.append(elapsed)
        cpu["uncached"] = (cpu_seconds(pid) - cpu_before) / runs
        body = json.loads(answer.text, parse_float=Decimal)
        cpu_before = cpu_seconds(pid)
        for _ in range(runs):
            started = time.perf_counter()
            answer = client.get(PATH, params={"lookback": "90d"})
            cached.append(time.perf_counter() - started)
            assert answer.status_code == 200
        cpu["cached"] = (cpu_seconds(pid) - cpu_before) / runs
    cache.delete(key)
    cache.close()
    return {"uncached": uncached, "cached": cached, "body": body, "bytes": len(answer.content),
            "cpu": cpu}


async def _time_raw(
    dataset: BenchDataset, first_ms: int, end_ms: int
) -> tuple[dict[str, list[float]], dict[tuple[int, str], Decimal]]:
    conn = await asyncpg.connect(dataset.database_url.replace("+asyncpg", ""))
    timings: dict[str, list[float]] = {name: [] for name in RAW_QUERIES}
    by_day: dict[tuple[int, str], Decimal] = {}
    try:
        for _ in range(RAW_RUNS):
            for name, group in RAW_QUERIES.items():
                sql = (f"SELECT {group}, sum(amount) FROM usage_entries WHERE account_id = $1 "
                       f"AND ts_ms >= $2 AND ts_ms < $3 GROUP BY {group}")
                started = time.perf_counter()
                rows = await conn.fetch(sql, dataset.account_id, first_ms, end_ms)
                timings[name].append(time.perf_counter() - started)
                if name == "day x currency":
                    by_day = {(row[0], row[1]): row[2] for row in rows}
    finally:
        await conn.close()
    return timings, by_day


def _check_exact(body: Any, by_day: dict[tuple[int, str], Decimal]) -> None:
    """The API's figures are the raw entries' exact sums (spend reported positive)."""
    for row in body["byDate"]:
        day = day_start_ms(datetime.strptime(row["date"], "%Y-%m-%d").date())
        usd = -sum((by_day.get((day, c), Decimal(0)) for c in ("USD", "BUNDLED_CREDITS")),
                   Decimal(0))
        diem = -by_day.get((day, "DIEM"), Decimal(0))
        assert Decimal(row["USD"]) == usd and Decimal(row["DIEM"]) == diem, (row, usd, diem)


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.1f} ms"


def _report(api: dict[str, Any], raw: dict[str, list[float]], runs: int, log: Path) -> None:
    uncached = statistics.median(api["uncached"])
    raw_total = sum(statistics.median(times) for times in raw.values())
    p95 = sorted(api["uncached"])[int(0.95 * (len(api["uncached"]) - 1))]
    slowdown = statistics.median(raw["day x currency"]) * 1000 / REFERENCE_DAY_GROUP_BY_MS
    verdict = "met" if uncached <= 0.050 else "missed in this run"
    lines = [
        SECTION,
        "",
        f"`.venv/bin/python -m bench.analytics --runs {runs}` "
        f"({datetime.now(tz=UTC):%Y-%m-%d %H:%M} UTC): `GET /billing/usage-analytics?lookback=90d` "
        "for the 5M-entry account on PostgreSQL, through a real `usagebook serve` over loopback, "
        "its Redis cache entry deleted before each timed request. Load average (1 min) at the "
        f"end: {os.getloadavg()[0]:.1f} on 2 cores, shared with the other engineers' work.",
        "",
        "| work | median | |",
        "|---|---|---|",
        f"| API, uncached (from the rollups) | {_ms(api['uncached'])} | p95 {p95 * 1000:.1f} ms, "
        f"{runs} runs, {api['bytes']:,} bytes; server CPU {api['cpu']['uncached'] * 1000:.1f} "
        "ms a request |",
        f"| API, cached (Redis hit) | {_ms(api['cached'])} | {runs} runs; server CPU "
        f"{api['cpu']['cached'] * 1000:.1f} ms a request |",
        *[f"| raw GROUP BY {name} over the entries | {_ms(times)} | {RAW_RUNS} runs |"
          for name, times in raw.items()],
        f"| the three raw GROUP BYs together | {raw_total * 1000:.0f} ms | "
        f"{raw_total / uncached:.0f}x the uncached API |",
        "",
        f"Target: <= 50 ms median uncached: {verdict}. Wall times on this shared machine swing "
        "2-3x with the other engineers' load: the raw GROUP BY by day took "
        f"{slowdown:.1f}x its {REFERENCE_DAY_GROUP_BY_MS:,} ms in ../shared/limits.md in this "
        "run; the server's CPU per request does not swing so. Every `byDate` figure of the "
        "answer was checked equal to the raw GROUP BY's exact sum in the same run. The answer "
        "reads ~10k rollup rows (day x currency, day x currency x SKU, day x currency x key) in "
        "two statements on one REPEATABLE READ snapshot, never the account's raw entries.",
        "",
    ]
    text = DOCS.read_text()
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    DOCS.write_text(text[:start] + "\n".join(lines) + (text[end:] if end != -1 else ""))
    print("\n".join(lines))
    print(f"server log: {log}")


if __name__ == "__main__":
    main()
