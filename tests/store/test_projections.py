"""Every projection equals a recomputation from the stored entries, on both backends.

SQLite keeps the projections in Python (`store.write_sqlite`), PostgreSQL in one statement of
data-modifying CTEs (`store.write_postgresql`); both must hold exactly what the entries say. After
each workload the tests read every projection table's rows for the accounts involved and compare
them with sums over the entries (and grants) read back, computed here in Python: Python's `//` and
`%` floor, which is what the hour and day keys promise, before 1970 too. Equal means the same keys
(no missing or extra row, so no zero-count row) and exactly equal Decimal figures.

Workloads: the endpoint (several accounts, with and without an API key, the consumption order
crossing DIEM -> BUNDLED_CREDITS -> USD within a batch, hour and day boundaries, repeats in a
batch and across batches), concurrent writers, `usagebook import` (backfill: any past day, before
1970, explicit currencies), `write_batch` directly, and a hypothesis property over small
random ledgers.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.factories import CURRENCIES, random_entries, store_entries
from tests.support.harness import Harness, Tenant
from tests.support.projections import (
    DAY,
    HOUR,
    QUARTER,
    assert_projections_match,
    entry_currencies,
)
from tests.support.recording import IMAGE, LLAMA_IN, grant, post_events, record_ok, set_diem
from usagebook.cli.importer import ImportJob, import_file
from usagebook.ledger.catalog import DEMO_CATALOG
from usagebook.money import charge_amount
from usagebook.store.engine import Database
from usagebook.store.rows import NewEntry
from usagebook.store.skus import SkuRow

UPSCALE = "upscaler-upscale-unit"  # 0.02 USD per unit


# --- the endpoint ----------------------------------------------------------------------------


def _iso(epoch_ms: int) -> str:
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=epoch_ms)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _live_moments() -> list[int]:
    """Moments the endpoint accepts (the last 24 hours) on both sides of the current UTC hour's
    and day's starts, and of the previous hour's."""
    now = time.time_ns() // 1_000_000
    hour, day = now - now % HOUR, now - now % DAY
    near = [
        hour,
        hour - 1,
        hour + 1,
        hour - HOUR,
        hour - HOUR - 1,
        day,
        day - 1,
        day + 1,
        now - 5 * HOUR - 7,
        now - 17 * HOUR,
    ]
    # A minute of slack: the server checks against its own (later) clock.
    return sorted({moment for moment in near if now - 24 * HOUR + 60_000 < moment <= now})


def _wire_event(
    request_id: str, tenant: Tenant, *, keyed: bool, sku: str, units: str, ts: int | None
) -> dict[str, Any]:
    made: dict[str, Any] = {"requestId": request_id, "sku": sku, "units": units}
    made.update(
        {"apiKeyId": tenant.inference_key_id} if keyed else {"accountId": tenant.account_id}
    )
    if ts is not None:
        made["timestamp"] = _iso(ts)
    if int(request_id.rsplit("-", 1)[-1]) % 3:  # two thirds tagged, from a few values
        n = int(request_id.rsplit("-", 1)[-1])
        made["tags"] = {"project": ("search", "chat")[n % 2], "user": f"u_{n % 5}"}
        if n % 7 == 0:
            made["tags"] = {"project": "ads"}
    return made


def _random_events(
    rng: random.Random, tenants: list[Tenant], count: int, prefix: str
) -> list[dict[str, Any]]:
    moments: list[int | None] = [*_live_moments(), None]  # None: the server's clock
    return [
        _wire_event(
            f"{prefix}-{index}",
            rng.choice(tenants),
            keyed=rng.random() < 0.5,
            sku=rng.choice((IMAGE, LLAMA_IN, UPSCALE)),
            units=str(rng.choice((1, 2, 3, Decimal("0.5"), 12345, Decimal("250000.123")))),
            ts=rng.choice(moments),
        )
        for index in range(count)
    ]


def _fund(harness: Harness, tenant: Tenant) -> None:
    """Small credit in every currency, so a batch of a few dozen charges crosses all three."""
    set_diem(harness, tenant.account_id, "0.05")
    grant(harness, tenant.account_id, "BUNDLED_CREDITS", "0.04")
    grant(harness, tenant.account_id, "USD", "0.03")


def test_endpoint_batches_keep_every_projection_exact(harness: Harness) -> None:
    funded, usd_only, unfunded = (harness.tenant(f"projections {n}") for n in range(3))
    _fund(harness, funded)
    grant(harness, usd_only.account_id, "USD", "1")
    tenants = [funded, usd_only, unfunded]
    accounts = [t.account_id for t in tenants]
    rng = random.Random(7)
    first = _random_events(rng, tenants, 60, "ep")
    first += [dict(event) for event in rng.sample(first, 10)]  # repeats within the batch
    results = record_ok(harness, first)
    assert Counter(r["status"] for r in results) == {"recorded": 60, "duplicate": 10}
    assert_projections_match(harness, accounts)

    second = _random_events(rng, tenants, 40, "ep2") + [dict(e) for e in first[:25]]
    results = record_ok(harness, second)
    assert Counter(r["status"] for r in results) == {"recorded": 40, "duplicate": 25}
    expected = assert_projections_match(harness, accounts)
    assert entry_currencies(harness, funded.account_id) == {"DIEM", "BUNDLED_CREDITS", "USD"}
    keyed = {key[3] for key in expected["rollup_day_key"]}
    assert "" in keyed and {t.inference_key_id for t in tenants} <= keyed
    assert sum(n for (n,) in expected["usage_count_days"].values()) == 100


def test_concurrent_writers_keep_every_projection_exact(harness: Harness) -> None:
    tenants = [harness.tenant(f"concurrent projections {n}") for n in range(3)]
    for tenant in tenants:
        _fund(harness, tenant)
    rng = random.Random(11)
    pool = _random_events(rng, tenants, 600, "cw")
    # 24 batches of 40: every event lands in at least one, many in two (racing repeats).
    batches = [pool[i : i + 25] + rng.sample(pool, 15) for i in range(0, len(pool), 25)]

    def send(batch: list[dict[str, Any]]) -> Counter[str]:
        answer = post_events(harness, batch)
        assert answer.status_code == 200, answer.text
        return Counter(r["status"] for r in answer.json()["results"])

    with ThreadPoolExecutor(4) as workers:
        statuses = sum(workers.map(send, batches), Counter[str]())
    assert statuses == {"recorded": 600, "duplicate": 360}
    expected = assert_projections_match(harness, [t.account_id for t in tenants])
    assert sum(n for (n,) in expected["usage_count_buckets"].values()) == 600


# --- backfill through `usagebook import` ----------------------------------------------------

# Both sides of UTC hour and day starts, a year boundary, and the hours around the epoch.
_BACKFILL_MOMENTS = (
    "2026-01-01T00:00:00.000Z",
    "2025-12-31T23:59:59.999Z",
    "2026-01-01T00:00:00.001Z",
    "2025-06-15T12:59:59.999Z",
    "2025-06-15T13:00:00.000Z",
    "2025-06-16T00:30:00.000+02:00",
    "1970-01-01T00:00:00.000Z",
    "1969-12-31T23:59:59.999Z",
    "1969-12-31T23:00:00.000Z",
    "1969-12-31T22:59:59.999Z",
    "1969-12-30T00:00:00.000Z",
    "1969-12-29T23:59:59.999Z",
)


def _backfill_lines(tenants: list[Tenant], rng: random.Random) -> list[dict[str, Any]]:
    lines = []
    for index in range(80):
        tenant = rng.choice(tenants)
        line: dict[str, Any] = {
            "requestId": f"bf-{index}",
            "sku": rng.choice((IMAGE, LLAMA_IN, UPSCALE)),
            "units": str(rng.randint(1, 4)),
            "timestamp": rng.choice(_BACKFILL_MOMENTS),
        }
        line.update(
            {"apiKeyId": tenant.inference_key_id}
            if index % 3 == 0
            else {"accountId": tenant.account_id}
        )
        if index % 4 == 0:  # history carries its own currency (VCU is stored as DIEM)
            line["currency"] = rng.choice(("USD", "DIEM", "BUNDLED_CREDITS", "VCU"))
        lines.append(line)
    repeats = [dict(line) for line in rng.sample(lines, 20)]
    return lines + repeats


def test_backfill_import_across_days_and_before_1970(harness: Harness, tmp_path: Path) -> None:
    tenants = [harness.tenant(f"backfill projections {n}") for n in range(2)]
    for tenant in tenants:
        _fund(harness, tenant)
    lines = _backfill_lines(tenants, random.Random(5))
    path = tmp_path / "history.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    job = ImportJob(path, batch_size=9)  # repeats fall in the same batch and in later ones
    report = harness.call(lambda db: import_file(db, job))
    assert (report.recorded, report.duplicate, report.conflict) == (80, 20, 0)
    expected = assert_projections_match(harness, [t.account_id for t in tenants])
    assert any(day < 0 for _, day in expected["diem_days"])
    assert any(hour < 0 for _, hour, _ in expected["usage_count_buckets"])

    again = harness.call(lambda db: import_file(db, job))  # the whole file once more
    assert (again.recorded, again.duplicate) == (0, 100)
    assert assert_projections_match(harness, [t.account_id for t in tenants]) == expected


# --- write_batch directly -------------------------------------------------------------------------


def store_batch(harness: Harness, entries: list[NewEntry]) -> list[int | None]:
    return harness.call(lambda db: store_entries(db, entries))


def priced_entry(
    account_id: str,
    request_id: str,
    ts_ms: int,
    *,
    sku: SkuRow = DEMO_CATALOG[0],
    units: Decimal = Decimal("1234.5"),
    currency: str = "USD",
    api_key_id: str | None = None,
) -> NewEntry:
    return NewEntry(
        account_id=account_id,
        api_key_id=api_key_id,
        ts_ms=ts_ms,
        sku=sku.sku,
        price_per_unit_usd=sku.price_per_unit_usd,
        units=units,
        amount=charge_amount(sku.price_per_unit_usd, units),
        currency=currency,
        request_id=request_id,
    )


def test_write_batch_floors_hours_and_days_before_1970(harness: Harness) -> None:
    tenant, other = harness.tenant("direct projections"), harness.tenant("direct other")
    keys = (None, tenant.inference_key_id, tenant.admin_key_id)
    spread = random_entries(
        tenant.account_id, 90, seed=3, span_ms=5 * DAY, end_ms=2 * DAY, key_ids=keys
    )
    edges = [-DAY - 1, -DAY, -HOUR - 1, -HOUR, -QUARTER - 1, -QUARTER, -1, 0, 1, QUARTER - 1,
             QUARTER, HOUR - 1, HOUR, DAY - 1, DAY]
    exact = [
        priced_entry(account, f"edge-{ts}", ts, currency=currency, api_key_id=key)
        for ts in edges
        for account, currency, key in (
            (tenant.account_id, "DIEM", None),
            (other.account_id, "BUNDLED_CREDITS", "k-1"),
        )
    ]
    batch = spread + exact + [spread[0], exact[3]]  # repeats within the call
    ids = store_batch(harness, batch)
    assert ids[-2:] == [None, None] and None not in ids[:-2]
    accounts = [tenant.account_id, other.account_id]
    expected = assert_projections_match(harness, accounts)
    assert (tenant.account_id, -1) in expected["diem_days"]
    assert (other.account_id, -HOUR, "BUNDLED_CREDITS") in expected["usage_count_buckets"]
    assert {c for _, _, c in expected["usage_count_days"]} == set(CURRENCIES)

    more = random_entries(
        other.account_id, 30, seed=4, span_ms=3 * DAY, end_ms=DAY, key_ids=(None, "k-2")
    )
    ids = store_batch(harness, batch[:40] + more)
    assert ids[:40] == [None] * 40 and None not in ids[40:]
    assert_projections_match(harness, accounts)


def test_concurrent_direct_batches_count_shared_entries_once(harness: Harness) -> None:
    """Writers that bypass the account lock (bulk loaders): overlapping batches race on the
    unique constraint, and each entry is projected by the one transaction that stored it."""
    tenants = [harness.tenant(f"racing {n}") for n in range(2)]
    pool = [
        entry
        for seed, tenant in enumerate(tenants, start=20)
        for entry in random_entries(
            tenant.account_id,
            120,
            seed=seed,
            span_ms=3 * DAY,
            key_ids=(None, tenant.inference_key_id),
        )
    ]
    rng = random.Random(9)
    # One global order inside every batch, as insert order: racing batches wait, never deadlock.
    batches = [sorted(rng.sample(range(len(pool)), 80)) for _ in range(6)]

    async def race(db: Database) -> list[list[int | None]]:
        return list(
            await asyncio.gather(
                *(store_entries(db, [pool[i] for i in batch]) for batch in batches)
            )
        )

    stored = [id_ for ids in harness.call(race) for id_ in ids if id_ is not None]
    assert len(stored) == len({i for batch in batches for i in batch})
    expected = assert_projections_match(harness, [t.account_id for t in tenants])
    assert sum(n for (n,) in expected["usage_count_days"].values()) == len(stored)


# --- a property over small random ledgers ----------------------------------------------------

_SKUS = DEMO_CATALOG[:3]
_MOMENTS = st.one_of(
    st.integers(-3 * DAY, 3 * DAY),
    st.sampled_from([-DAY - 1, -DAY, -HOUR - 1, -HOUR, -1, 0, HOUR - 1, HOUR, DAY - 1, DAY]),
    st.integers(1_700_000_000_000, 1_700_000_000_000 + 2 * DAY),
)
_LINE = st.tuples(
    st.integers(0, 2),  # account
    st.integers(0, 7),  # request id: few, so repeats are common
    st.integers(0, len(_SKUS) - 1),
    st.decimals(Decimal("0.000000001"), Decimal(10_000_000), places=9),
    _MOMENTS,
    st.sampled_from(CURRENCIES),
    st.sampled_from((None, "key-a", "key-b")),
)


@settings(max_examples=30, deadline=None)
@given(batches=st.lists(st.lists(_LINE, min_size=1, max_size=8), min_size=1, max_size=4))
def test_random_ledgers_keep_every_projection_exact(
    harness: Harness, batches: list[list[tuple[Any, ...]]]
) -> None:
    accounts = [harness.tenant("property").account_id for _ in range(3)]
    distinct: set[tuple[str, str, str]] = set()
    for batch in batches:
        entries = [
            priced_entry(
                accounts[account],
                f"p-{request}",
                ts,
                sku=_SKUS[sku_index],
                units=units,
                currency=currency,
                api_key_id=key,
            )
            for account, request, sku_index, units, ts, currency, key in batch
        ]
        ids = store_batch(harness, entries)
        fresh = {(e.account_id, e.request_id, e.sku) for e in entries} - distinct
        assert sum(id_ is not None for id_ in ids) == len(fresh)
        distinct |= fresh
    expected = assert_projections_match(harness, accounts)
    assert sum(n for (n,) in expected["usage_count_days"].values()) == len(distinct)
