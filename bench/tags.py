"""Benchmark: what tags cost, the worst case included (a tag with one value per end user).

    .venv/bin/python -m bench.tags [--events 30000]

In a scratch PostgreSQL database (`usagebook_bench_tags`, dropped at the end), three runs record
`--events` events each through the recording path (`ledger.recording.record`, in process,
batches of 1000 as the endpoint takes them, timestamps of now): without tags, with two
low-cardinality tags (project of 5 values, team of 3), and with those plus `user` taking a new
value on every event. For each: events/s, rows added to the tag rollup per event, and its bytes
(table and index) per event; then `GET /usage/analytics` for today by hour grouped by
`tag:project` and by `tag:user` (in process), each beside the same query grouped by model.
Figures go to docs/performance.md, section "Tags".
"""

from __future__ import annotations

import asyncio
import os
import secrets
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from usagebook.api.event_wire import parse_events
from usagebook.errors import ProblemCollector
from usagebook.ledger.accounts import create_account
from usagebook.ledger.analytics.series import local_analytics
from usagebook.ledger.analytics.series_query import RawAnalyticsQuery
from usagebook.ledger.catalog import DEMO_CATALOG, upsert_catalog
from usagebook.ledger.keys import KeyType, create_key
from usagebook.ledger.recording import record
from usagebook.settings import Settings
from usagebook.store.engine import Database, create_database
from usagebook.store.migrate import upgrade

ROOT = Path(__file__).resolve().parents[1]
SERVER = "postgresql://127.0.0.1:5432"
DATABASE = os.environ.get("USAGEBOOK_BENCH_TAGS_DATABASE", "usagebook_bench_tags")
DOCS = ROOT / "docs" / "performance.md"
SECTION = "## Tags (bench/tags.py)"
BATCH = 1000
VARIANTS = ("no tags", "2 low-cardinality tags", "2 tags + user (one value per event)")


def _tags(variant: int, n: int) -> dict[str, str] | None:
    if variant == 0:
        return None
    tags = {"project": f"p{n % 5}", "team": f"t{n % 3}"}
    if variant == 2:
        tags["user"] = f"u_{n:08d}"
    return tags


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(f"{SERVER}/postgres", timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _run(db: Database, key_id: str, account_id: str, events: int) -> dict[str, Any]:
    found: dict[str, Any] = {}
    skus = [sku.sku for sku in DEMO_CATALOG]
    for variant, name in enumerate(VARIANTS):
        before = await _tag_rollup(db)
        started = time.perf_counter()
        for first in range(0, events, BATCH):
            raw = [{"requestId": f"v{variant}-{n}", "sku": skus[n % len(skus)], "units": "1",
                    "apiKeyId": key_id, **({"tags": t} if (t := _tags(variant, n)) else {})}
                   for n in range(first, first + BATCH)]
            parsed = parse_events(raw, ProblemCollector())
            await record(db, parsed)
        seconds = time.perf_counter() - started
        after = await _tag_rollup(db)
        found[name] = {"rate": events / seconds, "rows": (after[0] - before[0]) / events,
                       "bytes": (after[1] - before[1]) / events}
    today = datetime.now(tz=UTC).date().isoformat()
    for group in ("model", "tag:project", "tag:user"):
        query = RawAnalyticsQuery(account_id, today, today, "Asia/Kolkata", "hour", group)
        times = []
        for _ in range(5):
            started = time.perf_counter()
            answer = await local_analytics(db, query, limit_seconds=60)
            times.append(time.perf_counter() - started)
        found[f"query {group}"] = {"ms": statistics.median(times) * 1000,
                                   "groups": len(answer.series)}
    return found


async def _tag_rollup(db: Database) -> tuple[int, int]:
    async with db.engine.connect() as conn:
        rows = (await conn.exec_driver_sql("SELECT count(*) FROM rollup_quarter_tag")).scalar()
        size = (await conn.exec_driver_sql(
            "SELECT pg_total_relation_size('rollup_quarter_tag')")).scalar()
    return int(rows or 0), int(size or 0)


async def _main(events: int) -> dict[str, Any]:
    settings = Settings.from_env({}, database_url=f"{SERVER}/{DATABASE}",
                                 secret_key=secrets.token_hex(16))
    db = create_database(settings)
    try:
        await upsert_catalog(db, DEMO_CATALOG)
        account = await create_account(db, "Bench: tags")
        key = await create_key(db, account.id, KeyType.INFERENCE, "tags")
        return await _run(db, key.row.id, account.id, events)
    finally:
        await db.dispose()


def main() -> None:
    events = int(sys.argv[sys.argv.index("--events") + 1]) if "--events" in sys.argv else 30_000
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
    asyncio.run(_admin(f'CREATE DATABASE "{DATABASE}"'))
    try:
        upgrade(Settings.from_env({}, database_url=f"{SERVER}/{DATABASE}",
                                  secret_key="x" * 32).database_url)
        found = asyncio.run(_main(events))
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
    _report(events, found)


def _report(events: int, found: dict[str, Any]) -> None:
    base = found[VARIANTS[0]]["rate"]
    lines = [
        SECTION, "",
        f"`.venv/bin/python -m bench.tags --events {events}` "
        f"({datetime.now(tz=UTC):%Y-%m-%d %H:%M} UTC): {events:,} events per run recorded in "
        "process on PostgreSQL (batches of 1000, timestamps of now), one run after the other. "
        f"Load average (1 min) at the end: {os.getloadavg()[0]:.1f} on 2 cores, shared.", "",
        "| events | events/s | vs no tags | tag rollup rows per event | its bytes per event |",
        "|---|---|---|---|---|",
        *(f"| {name} | {found[name]['rate']:,.0f} | {found[name]['rate'] / base:.2f}x | "
          f"{found[name]['rows']:.2f} | {found[name]['bytes']:.0f} |" for name in VARIANTS),
        "",
        "| `GET /usage/analytics` today by hour in Asia/Kolkata, in process | median | groups |",
        "|---|---|---|",
        *(f"| groupBy={group} | {found[f'query {group}']['ms']:.1f} ms | "
          f"{found[f'query {group}']['groups']:,} |"
          for group in ("model", "tag:project", "tag:user")),
        "",
    ]
    text = DOCS.read_text()
    if SECTION in text:
        start = text.index(SECTION)
        end = text.find("\n## ", start + len(SECTION))
        notes = text[start:end if end != -1 else len(text)].split("<!-- notes -->", 1)
        tail = "<!-- notes -->" + notes[1] if len(notes) == 2 else ""
        text = text[:start] + "\n".join(lines) + tail + (text[end:] if end != -1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(lines)
    DOCS.write_text(text)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
