"""Benchmark: what /billing/usage's `apiKeyId` and `modelId` filters cost on PostgreSQL, on the
shared big account (bench/dataset.py, 5,000,000 entries over 90 days, six keys): the statement
`store.pages.page_with_total` runs for the dashboard's first page (20 entries, newest first,
with the exact total), per filter, for 7 and 90 days, beside the same page unfiltered (whose
total comes from the count buckets). Each statement runs warm, 7 times; the median is shown
with the index that counts it (from EXPLAIN ANALYZE, so an index change shows up here).

    .venv/bin/python -m bench.entry_filters [--entries N]

The page itself is a short index walk in every case; the total is what costs: the buckets count
by account, currency and hour only, so a filtered total counts the matching index entries (one
index-only range per key or SKU). Figures go to docs/performance.md, section "Entries by key
and model".
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from typing import Any

import asyncpg

from bench.dataset import ensure_bench_account
from usagebook.store import pages
from usagebook.store.entries import EntryFilter
from usagebook.store.paging import cut_range

DAY_MS = 86_400_000
RUNS = 7


def _statement(where: EntryFilter) -> tuple[str, list[Any]]:
    """page_with_total's PostgreSQL text for the dashboard's first page."""
    p = pages._Params("$")
    total = pages._total(where, cut_range(where), p)
    page = pages._page_sql(where, True, 20, 0, p)
    return (f"SELECT t.total, p.* FROM (SELECT {total} AS total) t "
            f"LEFT JOIN LATERAL ({page}) p ON true ORDER BY p.ts_ms DESC, p.id DESC", p.values)


async def _measure(conn: asyncpg.Connection, where: EntryFilter) -> tuple[int, float, str]:
    sql, values = _statement(where)
    await conn.fetch(sql, *values)  # warm
    times, total = [], 0
    for _ in range(RUNS):
        started = time.perf_counter()
        rows = await conn.fetch(sql, *values)
        times.append((time.perf_counter() - started) * 1000)
        total = int(rows[0][0])
    plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN ANALYZE " + sql, *values))
    counted = next((name for name in ("ix_usage_entries_account_key_ts",
                                      "ix_usage_entries_account_sku_ts", "usage_count_days")
                    if name in plan), "a sequential scan" if "Seq Scan on usage_entries" in plan
                   else "?")
    return total, statistics.median(times), counted


async def main(database_url: str, account: str) -> None:
    conn = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        await conn.execute("SET plan_cache_mode = force_custom_plan")  # as store.engine does
        newest = await conn.fetchval(
            "SELECT max(ts_ms) FROM usage_entries WHERE account_id = $1", account)
        key = await conn.fetchval(
            "SELECT api_key_id FROM usage_entries WHERE account_id = $1 AND api_key_id IS NOT "
            "NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 1", account)
        llama = tuple(r[0] for r in await conn.fetch(
            "SELECT sku FROM skus WHERE model_id = 'llama-3.3-70b' ORDER BY sku"))
        rare = await conn.fetchval(
            "SELECT sku FROM usage_entries WHERE account_id = $1 GROUP BY 1 ORDER BY count(*) "
            "LIMIT 1", account)
        today = newest // DAY_MS * DAY_MS
        print("| filter | days | total | median ms | counted by |")
        print("|---|---|---|---|---|")
        for days in (7, 90):
            span: dict[str, Any] = {"start_ms": today - (days - 1) * DAY_MS,
                                    "end_ms": today + DAY_MS - 1}
            cases = {
                "none (count buckets)": EntryFilter(account, **span),
                "apiKeyId (a sixth of the account)": EntryFilter(account, **span,
                                                                  api_key_id=key),
                "modelId llama-3.3-70b (2 SKUs)": EntryFilter(account, **span, skus=llama),
                "modelId of the rarest SKU": EntryFilter(account, **span, skus=(rare,)),
                "apiKeyId and modelId": EntryFilter(account, **span, api_key_id=key, skus=llama),
            }
            for name, where in cases.items():
                total, median, counted = await _measure(conn, where)
                print(f"| {name} | {days} | {total:,} | {median:.1f} | {counted} |")
    finally:
        await conn.close()


if __name__ == "__main__":
    size = int(sys.argv[sys.argv.index("--entries") + 1]) if "--entries" in sys.argv else None
    dataset = ensure_bench_account(entries=size) if size else ensure_bench_account()
    asyncio.run(main(dataset.database_url, dataset.account_id))
