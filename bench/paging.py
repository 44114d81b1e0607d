"""Paging and totals on the big account (5,000,000 entries, or `--entries N`), through the
HTTP API, in one run.

    .venv/bin/python -m bench.paging [--rounds 7] [--no-docs]

Builds or reuses the shared dataset (`bench/dataset.py`), serves it with a real uvicorn process
on loopback, and times, round-robin so that the machine's noise falls on every case alike:
/billing/usage pages 1, 1,000 and 20,000 (fewer on a smaller `--entries N` dataset: see
`deep_page`; and the last page of each filter) with and without
filters, the total alone (limit=1), a 100-page usage-history walk, and the raw SQL a page costs
in the same database: OFFSET and keyset for the same pages, and exact COUNTs. Medians go to
`bench/results/paging.json` and to the "Paging and totals" section of docs/performance.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.dataset import RESULTS, BenchDataset, ensure_bench_account, entries_option
from tests.support.servers import UsagebookServer
from usagebook.settings import Settings
from usagebook.store.engine import create_database
from usagebook.store.entries import EntryFilter, list_entries_page
from usagebook.store.paging import count_matching
from usagebook.timeutil import MS_PER_DAY, format_ms

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 200
DOCS = ROOT / "docs" / "performance.md"
SECTION = "## Paging and totals (bench/paging.py)"
WALK_PAGES = 100


def main() -> None:
    rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 7
    dataset = ensure_bench_account(entries=entries_option(sys.argv))
    with _server(dataset) as base_url:
        results = _measure(dataset, base_url, rounds)
    (RESULTS / "paging.json").write_text(json.dumps(results, indent=2) + "\n")
    report = _report(results, rounds)
    print(report)
    if "--no-docs" not in sys.argv:
        _write_section(report)


@contextmanager
def _server(dataset: BenchDataset) -> Iterator[str]:
    """`usagebook serve` on a free loopback port (no Redis), stopped on exit."""
    server = UsagebookServer(
        {"USAGEBOOK_SECRET_KEY": dataset.secret_key, "USAGEBOOK_RATE_LIMIT_PER_MINUTE": "0",
         "USAGEBOOK_DATABASE_URL": dataset.database_url, "USAGEBOOK_REDIS_URL": ""},
        RESULTS / "paging-server.log")
    server.start(timeout=60)
    try:
        yield server.base_url
    finally:
        server.stop()


def _filters(dataset: BenchDataset) -> dict[str, dict[str, str]]:
    end = dataset.built_ms
    start = end - 30 * MS_PER_DAY
    return {
        "none": {},
        "USD": {"currency": "USD"},
        "30 days + DIEM": {"currency": "DIEM", "startDate": format_ms(start),
                           "endDate": format_ms(end)},
    }


def _measure(dataset: BenchDataset, base_url: str, rounds: int) -> dict[str, Any]:
    client = httpx.Client(base_url=base_url, timeout=60,
                          headers={"Authorization": f"Bearer {dataset.admin_key}"})
    cases: dict[str, Callable[[], object]] = {}
    totals: dict[str, int] = {}
    for name, params in _filters(dataset).items():
        total = client.get("/api/v1/billing/usage", params={**params, "limit": 1}).json()
        totals[name] = total["pagination"]["total"]
        last = -(-totals[name] // LIMIT)
        for page in sorted({1, mid_page(dataset), deep_page(dataset), last}):
            if page <= last:
                cases[f"usage {name} page {page}"] = _get(client, {**params, "limit": LIMIT,
                                                                   "page": page})
        deep = min(deep_page(dataset), last)
        cases[f"usage {name} page {deep_page(dataset)} asc"] = _get(
            client, {**params, "limit": LIMIT, "page": deep, "sortOrder": "asc"})
        cases[f"total alone {name}"] = _get(client, {**params, "limit": 1})
    walks = {size: _walk(client, size) for size in (200, 1000)}
    raw = asyncio.run(_raw_cases(dataset))
    timings: dict[str, list[float]] = {name: [] for name in (*cases, *raw, *map(str, walks))}
    for _ in range(2):  # warm the caches and the server
        for case in cases.values():
            case()
    for _ in range(rounds):
        for name, case in cases.items():
            timings[name].append(_timed(case))
        for name, ms in asyncio.run(_raw_round(dataset, raw)).items():
            timings[name].append(ms)
        for name, ms in asyncio.run(_store_round(dataset)).items():
            timings.setdefault(name, []).append(ms)
    walk_pages: dict[str, list[float]] = {}
    for size, walk in walks.items():
        per_page = walk()
        walk_pages[f"history walk pageSize {size}"] = per_page
    client.close()
    medians = {name: statistics.median(values) for name, values in timings.items() if values}
    for name, pages in walk_pages.items():
        medians[f"{name} (median page)"] = statistics.median(pages)
        medians[f"{name} (100 pages, total)"] = sum(pages)
        medians[f"{name} (page 1)"] = pages[0]
        medians[f"{name} (page 100)"] = pages[-1]
    return {"totals": totals, "medians_ms": medians, "rounds": rounds,
            "deep_page": deep_page(dataset), "entries": dataset.entries,
            "load": os.getloadavg()[0],
            "measured": datetime.now(tz=UTC).isoformat(timespec="seconds")}


def deep_page(dataset: BenchDataset) -> int:
    """Page 20,000 on the 5M-entry account; on a smaller one, a page 80% of the way down (so the
    bench runs at any size: a fixed page 20,000 does not exist below 4M entries)."""
    return max(2, min(20_000, dataset.entries // LIMIT * 4 // 5))


def mid_page(dataset: BenchDataset) -> int:
    return max(2, min(1000, deep_page(dataset) // 4))


def _get(client: httpx.Client, params: dict[str, Any]) -> Callable[[], object]:
    def fetch() -> object:
        answer = client.get("/api/v1/billing/usage", params=params)
        answer.raise_for_status()
        return answer.content

    return fetch


def _walk(client: httpx.Client, page_size: int) -> Callable[[], list[float]]:
    def walk() -> list[float]:
        times: list[float] = []
        params: dict[str, Any] = {"pageSize": page_size}
        for _ in range(WALK_PAGES):
            started = time.perf_counter()
            answer = client.get("/api/v1/billing/usage-history", params=params)
            answer.raise_for_status()
            times.append((time.perf_counter() - started) * 1000)
            params = {"cursor": answer.json()["nextCursor"]}
        return times

    return walk


def _timed(case: Callable[[], object]) -> float:
    started = time.perf_counter()
    case()
    return (time.perf_counter() - started) * 1000


_COLUMNS = ("id, ts_ms, sku, price_per_unit_usd, units, amount, currency, notes, request_id, "
            "execution_ms, prompt_tokens, completion_tokens, api_key_id")


async def _raw_cases(dataset: BenchDataset) -> dict[str, tuple[str, list[Any]]]:
    """The SQL a page and a count cost by themselves: OFFSET, keyset from the same position."""
    conn = await _connect(dataset)
    account = dataset.account_id
    cases: dict[str, tuple[str, list[Any]]] = {}
    try:
        for page in (1, mid_page(dataset), deep_page(dataset)):
            offset = (page - 1) * LIMIT
            cases[f"raw OFFSET page {page}"] = (
                f"SELECT {_COLUMNS} FROM usage_entries WHERE account_id = $1 "
                "ORDER BY ts_ms DESC, id DESC LIMIT 200 OFFSET $2", [account, offset])
            after = await conn.fetchrow(
                "SELECT ts_ms, id FROM usage_entries WHERE account_id = $1 "
                "ORDER BY ts_ms DESC, id DESC LIMIT 1 OFFSET $2", account, max(offset - 1, 0))
            cases[f"raw keyset page {page}"] = (
                f"SELECT {_COLUMNS} FROM usage_entries WHERE account_id = $1 "
                "AND (ts_ms, id) < ($2, $3) ORDER BY ts_ms DESC, id DESC LIMIT 200",
                [account, after["ts_ms"] + (1 if page == 1 else 0), after["id"]])
        start = dataset.built_ms - 30 * MS_PER_DAY
        cases["raw COUNT account"] = (
            "SELECT count(*) FROM usage_entries WHERE account_id = $1", [account])
        cases["raw COUNT 30 days + DIEM"] = (
            "SELECT count(*) FROM usage_entries WHERE account_id = $1 AND currency = $2 "
            "AND ts_ms BETWEEN $3 AND $4", [account, "DIEM", start, dataset.built_ms])
    finally:
        await conn.close()
    return cases


async def _raw_round(dataset: BenchDataset,
                     cases: dict[str, tuple[str, list[Any]]]) -> dict[str, float]:
    conn = await _connect(dataset)
    try:
        timings = {}
        for name, (sql, args) in cases.items():
            started = time.perf_counter()
            await conn.fetch(sql, *args)
            timings[name] = (time.perf_counter() - started) * 1000
        return timings
    finally:
        await conn.close()


async def _store_round(dataset: BenchDataset) -> dict[str, float]:
    """In process, through usagebook's store: what the exact total costs next to the page it
    is sent with (page 1, limit 200), for the same filter."""
    database = create_database(Settings.from_env(
        {}, database_url=dataset.database_url, secret_key=dataset.secret_key))
    timings = {}
    try:
        for name, params in _filters(dataset).items():
            where = EntryFilter(
                dataset.account_id, (params["currency"],) if "currency" in params else None,
                dataset.built_ms - 30 * MS_PER_DAY if "startDate" in params else None,
                dataset.built_ms if "endDate" in params else None)
            async with database.read() as conn:
                await count_matching(conn, where)  # warm the connection
                started = time.perf_counter()
                await count_matching(conn, where)
                timings[f"store total {name}"] = (time.perf_counter() - started) * 1000
                started = time.perf_counter()
                await list_entries_page(conn, where, descending=True, limit=LIMIT, offset=0)
                timings[f"store page 1 {name}"] = (time.perf_counter() - started) * 1000
    finally:
        await database.dispose()
    return timings


async def _connect(dataset: BenchDataset) -> asyncpg.Connection:
    # The same session settings as usagebook's own engine, so the comparison is fair.
    return await asyncpg.connect(dataset.database_url, server_settings={
        "plan_cache_mode": "force_custom_plan", "jit": "off"})


def _report(results: dict[str, Any], rounds: int) -> str:
    m = results["medians_ms"]
    lines = [
        "How: `/billing/usage` totals sum per-account count buckets (per currency and UTC",
        "day, and per hour for the partial days at a filter's edges) plus the entries of at",
        "most two partial edge hours counted from the index; a deep page skips whole days and",
        "hours through the same buckets, then OFFSETs inside one hour",
        "(`usagebook/store/paging.py`). The buckets are a projection kept in the write path's",
        "transaction (migration 0003 backfills them). `/billing/usage-history` is a keyset walk",
        "on `(ts_ms, id)` bounded by a snapshot id, carried in a signed cursor",
        "(`usagebook/ledger/history.py`).",
        "",
        f"Command: `.venv/bin/python -m bench.paging --rounds {rounds} --entries "
        f"{results['entries']}` ({results['measured']}). The {results['entries']:,}-entry "
        "account of `bench/dataset.py`; HTTP "
        "through a uvicorn process on loopback (one worker, keep-alive client), medians of "
        f"{rounds} round-robin rounds, in ms. `limit=200`, newest first unless `asc`. Load "
        f"average (1 min) at the end: {results['load']:.1f} on 2 cores shared with other work.",
        "",
        "| request | median ms |",
        "|---|---:|",
    ]
    lines += [f"| {name} | {value:.2f} |" for name, value in m.items()]
    totals = ", ".join(f"{k}: {v:,}" for k, v in results["totals"].items())
    lines += ["", f"Matching entries: {totals}.", ""]
    deep = results["deep_page"]
    ratio = m[f"usage none page {deep}"] / m["usage none page 1"]
    ratio_f = m["store total 30 days + DIEM"] / m["store page 1 30 days + DIEM"]
    lines += [
        f"- page {deep:,} / page 1 (no filter): **{ratio:.2f}x** (target <= 1.5x); "
        f"raw OFFSET at the same depth costs "
        f"{m[f'raw OFFSET page {deep}'] / m['raw OFFSET page 1']:.0f}x its page 1.",
        f"- exact total (30 days + DIEM) / fetching its page (limit=200), both in process "
        f"through the store: **{ratio_f:.2f}x** (target <= 2x); a raw COUNT of that filter costs "
        f"{m['raw COUNT 30 days + DIEM']:.0f} ms by itself.",
    ]
    return "\n".join(lines) + "\n"


def _write_section(report: str) -> None:
    text = DOCS.read_text()
    start = text.index(SECTION) + len(SECTION)
    following = text.find("\n## ", start)
    rest = text[following:] if following != -1 else "\n"
    DOCS.write_text(text[:start] + "\n\n" + report + rest)


if __name__ == "__main__":
    main()
