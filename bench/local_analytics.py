"""Benchmark: analytics in local time on the 5M-entry account (PostgreSQL), uncached, through a
real `usagebook serve`, each figure beside the same query in UTC from the same run.

    .venv/bin/python -m bench.local_analytics [--runs 15]

- `GET /billing/usage-analytics?lookback=90d` with and without `timeZone=Asia/Kolkata` (its
  Redis cache entry deleted before each timed request);
- `GET /usage/analytics` 90 days by day grouped by model, in UTC and in Asia/Kolkata;
- `GET /usage/analytics` 31 days by hour (no group, and by model), in UTC and Asia/Kolkata.

The Kolkata answers' totals are checked equal to a plain SUM over the raw entries of the same
local days, in the same run. Uses the dataset of bench/dataset.py (`USAGEBOOK_BENCH_DATABASE`
picks another one). Figures go to docs/performance.md, section "Analytics in local time".
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import redis

from bench.analytics import CACHE_PREFIX, REDIS_URL
from bench.dataset import BenchDataset, ensure_bench_account
from tests.support.servers import UsagebookServer
from usagebook.ledger.analytics.period import resolve_period
from usagebook.ledger.analytics.summary import analytics_cache_key
from usagebook.ledger.local_time import day_start_ms, local_date
from usagebook.timeutil import now_ms

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "performance.md"
SECTION = "## Analytics in local time (bench/local_analytics.py)"
ZONE = "Asia/Kolkata"
VENICE, OWN = "/api/v1/billing/usage-analytics", "/api/v1/usage/analytics"


def _cases() -> list[tuple[str, str, dict[str, str], str | None]]:
    """(name, path, params, zone of the Venice cache key to delete)."""
    cases: list[tuple[str, str, dict[str, str], str | None]] = []
    for zone in ("UTC", ZONE):
        today = datetime.now(tz=ZoneInfo(zone)).date()
        day90 = {"start": str(today - timedelta(days=89)), "end": str(today), "timeZone": zone}
        day31 = {"start": str(today - timedelta(days=30)), "end": str(today), "timeZone": zone}
        venice = {"lookback": "90d", **({"timeZone": zone} if zone != "UTC" else {})}
        cases += [
            (f"usage-analytics 90d, {zone if zone != 'UTC' else 'no timeZone'}", VENICE, venice,
             zone if zone != "UTC" else ""),
            (f"usage/analytics 90 days by day, by model, {zone}", OWN,
             {**day90, "granularity": "day", "groupBy": "model"}, None),
            (f"usage/analytics 31 days by hour, {zone}", OWN,
             {**day31, "granularity": "hour"}, None),
            (f"usage/analytics 31 days by hour, by model, {zone}", OWN,
             {**day31, "granularity": "hour", "groupBy": "model"}, None),
        ]
    return cases


def main() -> None:
    runs = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 15
    dataset = ensure_bench_account()
    log_path = ROOT / "bench" / "results" / "local-analytics-server.log"
    log_path.write_bytes(b"")
    server = UsagebookServer(
        {"USAGEBOOK_DATABASE_URL": dataset.database_url, "USAGEBOOK_SECRET_KEY": dataset.secret_key,
         "USAGEBOOK_REDIS_URL": REDIS_URL, "USAGEBOOK_RATE_LIMIT_PER_MINUTE": "0"}, log_path)
    server.start(timeout=60)
    try:
        timings, bodies, loads = _time(server, dataset, runs)
    finally:
        server.stop()
    _check_exact(dataset, bodies)
    _report(timings, runs, loads)


def _cache_key(dataset: BenchDataset, zone: str) -> str:
    zone_info = ZoneInfo(zone or "UTC")
    period = resolve_period(local_date(now_ms(), zone_info), "90d", None, None)
    return CACHE_PREFIX + analytics_cache_key(dataset.account_id, period, zone or None)


def _time(server: UsagebookServer, dataset: BenchDataset, runs: int
          ) -> tuple[dict[str, list[float]], dict[str, Any], list[float]]:
    cache = redis.Redis.from_url(REDIS_URL)
    timings: dict[str, list[float]] = {}
    bodies: dict[str, Any] = {}
    loads: list[float] = []  # the 1-minute load average before each round
    headers = {"Authorization": f"Bearer {dataset.admin_key}"}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=60) as client:
        for n in range(runs + 2):  # two warm-up rounds, not timed; cases interleaved
            loads.append(os.getloadavg()[0])
            for name, path, params, zone in _cases():
                if zone is not None:
                    cache.delete(_cache_key(dataset, zone))
                started = time.perf_counter()
                answer = client.get(path, params=params)
                elapsed = time.perf_counter() - started
                assert answer.status_code == 200, answer.text
                if n >= 2:
                    timings.setdefault(name, []).append(elapsed)
                bodies[name] = json.loads(answer.text, parse_float=Decimal)
    cache.close()
    return timings, bodies, loads


def _check_exact(dataset: BenchDataset, bodies: dict[str, Any]) -> None:
    """The Kolkata 90-day answer's totals are the raw entries' exact sums over its local days."""
    zone = ZoneInfo(ZONE)
    body = bodies[f"usage/analytics 90 days by day, by model, {ZONE}"]
    first = datetime.fromisoformat(body["start"]).date()
    last = datetime.fromisoformat(body["end"]).date()
    lo, hi = day_start_ms(first, zone), day_start_ms(last + timedelta(days=1), zone)

    async def raw() -> dict[str, Decimal]:
        conn = await asyncpg.connect(dataset.database_url.replace("+asyncpg", ""))
        try:
            rows = await conn.fetch(
                "SELECT currency = 'DIEM' AS diem, -sum(amount) FROM usage_entries "
                "WHERE account_id = $1 AND ts_ms >= $2 AND ts_ms < $3 GROUP BY 1",
                dataset.account_id, lo, hi)
        finally:
            await conn.close()
        return {"diem" if row[0] else "usd": row[1] for row in rows}

    expected = asyncio.run(raw())
    assert body["totals"] == expected, (body["totals"], expected)
    venice = bodies[f"usage-analytics 90d, {ZONE}"]  # the same 90 local days
    assert sum(row["USD"] for row in venice["byDate"]) == expected["usd"]
    assert sum(row["DIEM"] for row in venice["byDate"]) == expected["diem"]


def _median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def _report(timings: dict[str, list[float]], runs: int, loads: list[float]) -> None:
    names = list(timings)
    rows = []
    for name in names:
        if ZONE not in name:
            continue
        utc_name = name.replace(ZONE, "UTC").replace(", UTC", ", no timeZone") \
            if name.startswith("usage-analytics") else name.replace(ZONE, "UTC")
        local, utc = _median_ms(timings[name]), _median_ms(timings[utc_name])
        rows.append(f"| {name.replace(', ' + ZONE, '')} | {utc:.1f} ms | {local:.1f} ms | "
                    f"{local / utc:.2f}x |")
    lines = [
        SECTION, "",
        f"`.venv/bin/python -m bench.local_analytics --runs {runs}` "
        f"({datetime.now(tz=UTC):%Y-%m-%d %H:%M} UTC): the 5M-entry account on PostgreSQL, "
        "through a real `usagebook serve` over loopback, uncached (the Venice endpoint's Redis "
        "entry deleted before each request; `/usage/analytics` has no cache), medians of "
        f"{runs} runs, the cases interleaved. Load average (1 min) during the run: "
        f"{min(loads):.1f}-{max(loads):.1f} on 2 cores, shared with the other engineers' work.",
        "",
        "| request | UTC | Asia/Kolkata | Kolkata / UTC |", "|---|---|---|---|", *rows, "",
    ]
    text = DOCS.read_text()
    if SECTION in text:
        start = text.index(SECTION)
        end = text.find("\n## ", start + len(SECTION))
        rest = text[end:] if end != -1 else ""
        # Keep the hand-written notes that follow the table (up to the next section).
        notes = text[start:end if end != -1 else len(text)].split("<!-- notes -->", 1)
        tail = "<!-- notes -->" + notes[1] if len(notes) == 2 else ""
        text = text[:start] + "\n".join(lines) + tail + rest
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(lines)
    DOCS.write_text(text)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
