"""The partitioned ledger (PostgreSQL, revision 0012): archiving old months to files.

A database of its own (archiving removes every account's entries of a month, so the shared
test database would lose other tests' entries): entries in four past months and this one, the
older two first in the default partition, then one moved into a partition made for it.
Archiving writes each month's rows exactly to its CSV file and removes them; balances and
analytics keep their figures, pages list what is stored, and a repeat of an archived event is
still a duplicate, charged nothing.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from tests.support.harness import Harness, Tenant, create_postgres_database, make_settings
from usagebook.api.recording import record_body
from usagebook.app import create_app
from usagebook.cli import app as cli_app
from usagebook.ledger.balances import grant_credit
from usagebook.ledger.catalog import DEMO_CATALOG, upsert_catalog
from usagebook.store.engine import Database
from usagebook.store.migrate import upgrade
from usagebook.store.partitions import DEFAULT, Month, ensure_months
from usagebook.timeutil import now_ms

SKU = DEMO_CATALOG[0].sku
UNITS = ("0.000001", "1.5", "0.123456789", "42")
SECRET_ENV = {"USAGEBOOK_SECRET_KEY": "partition-test-secret-0123456789abcdef"}


def _cli(*args: str) -> Any:
    return CliRunner().invoke(cli_app, list(args), env=SECRET_ENV)


@pytest.fixture
def own() -> Iterator[Harness]:
    url, drop = create_postgres_database()
    try:
        settings = make_settings(url)
        upgrade(settings.database_url)
        with TestClient(create_app(settings), raise_server_exceptions=False) as client:
            harness = Harness("postgresql", client, settings)
            harness.call(lambda db: upsert_catalog(db, DEMO_CATALOG))
            yield harness
    finally:
        drop()


def _at(month: Month, day: int) -> int:
    return int(datetime(month.year, month.month, day, 12, tzinfo=UTC).timestamp() * 1000)


def _record(harness: Harness, tenant: Tenant, request_id: str, units: str, ts_ms: int) -> str:
    body = {"events": [{"requestId": request_id, "sku": SKU, "units": units,
                        "apiKeyId": tenant.inference_key_id}]}
    results = harness.call(lambda db: record_body(db, body, received_ms=ts_ms))
    return results[0].status


def _stored(harness: Harness, where: str) -> list[dict[str, Any]]:
    async def read(db: Database) -> list[dict[str, Any]]:
        async with db.read() as conn:
            rows = await conn.execute(text(f"SELECT * FROM usage_entries WHERE {where} "
                                           "ORDER BY ts_ms, id"))
            return [dict(row._mapping) for row in rows]
    return harness.call(read)


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).date().isoformat()


def _figures(harness: Harness, tenant: Tenant, first: Month) -> dict[str, Any]:
    answers = {"balance": harness.get("/api/v1/billing/balance", tenant)}
    month = first
    while month <= Month.of(now_ms()):  # a month at a time: analytics spans at most 90 days
        last = min(month.following().start_ms - 1, now_ms())
        answers[f"analytics {month}"] = harness.get(
            "/api/v1/billing/usage-analytics", tenant,
            params={"startDate": _day(month.start_ms), "endDate": _day(last)})
        month = month.following()
    answers |= {
        "thisMonth": harness.get("/api/v1/billing/usage", tenant, params={
            "startDate": datetime.fromtimestamp(Month.of(now_ms()).start_ms / 1000,
                                                UTC).isoformat().replace("+00:00", "Z"),
            "limit": 500}),
    }
    for name, answer in answers.items():
        assert answer.status_code == 200, (name, answer.text)
    return {name: json.loads(answer.text, parse_float=Decimal) for name, answer in answers.items()}


def test_archived_months_leave_files_exact_and_keys_behind(own: Harness, tmp_path: Path) -> None:
    now = Month.of(now_ms())
    months = [now.following(-4), now.following(-3), now.following(-2), now.following(-1)]

    def partition(first: Month, last: Month) -> None:
        async def make(db: Database) -> None:
            async with db.write() as conn:
                await conn.run_sync(ensure_months, first, last)
        own.call(make)

    # The last two past months get partitions of their own; the older two go to the default.
    partition(months[2], months[3])
    tenant = own.tenant()
    own.call(lambda db: grant_credit(db, tenant.account_id, "USD", "1000"))
    for month in months:
        for n, units in enumerate(UNITS):
            assert _record(own, tenant, f"{month}-{n}", units, _at(month, 5 + n)) == "recorded"
    current = [f"now-{n}" for n in range(3)]
    for request_id in current:
        assert _record(own, tenant, request_id, "2", now_ms()) == "recorded"
    # A partition made for a month the default partition holds rows of takes them over.
    partition(months[0], months[0])
    assert len(_stored(own, f"tableoid = '{months[0].table}'::regclass")) == len(UNITS)
    assert len(_stored(own, f"tableoid = '{DEFAULT}'::regclass")) == len(UNITS)
    old = _stored(own, f"ts_ms < {now.start_ms}")
    assert len(old) == len(months) * len(UNITS)
    before = _figures(own, tenant, months[0])

    answer = _cli("partitions", "archive", "--before", str(now), "--to", str(tmp_path),
                  "--json", "--database-url", own.settings.database_url)
    assert answer.exit_code == 0, answer.stderr
    archived = json.loads(answer.stdout)["archived"]
    assert [a["partition"] for a in archived] == [months[0].table, months[2].table,
                                                  months[3].table, DEFAULT]
    assert [a["rows"] for a in archived] == [len(UNITS)] * len(months)

    # The files hold exactly the rows removed: every column, money as stored, ledger order.
    written: list[dict[str, str]] = []
    for item in archived:
        with open(item["file"], newline="") as file:
            written.extend(csv.DictReader(file))
    written.sort(key=lambda row: (int(row["ts_ms"]), int(row["id"])))
    assert [int(row["id"]) for row in written] == [row["id"] for row in old]
    for row, stored in zip(written, old, strict=True):
        for column in ("price_per_unit_usd", "units", "amount"):
            assert Decimal(row[column]) == stored[column], column
        assert (row["account_id"], row["request_id"], row["sku"], int(row["ts_ms"]),
                row["currency"]) == (stored["account_id"], stored["request_id"],
                                     stored["sku"], stored["ts_ms"], stored["currency"])
    assert sorted(Decimal(row["units"]) for row in written) == sorted(
        Decimal(u) for u in UNITS * len(months))
    assert _stored(own, f"ts_ms < {now.start_ms}") == []

    after = _figures(own, tenant, months[0])
    assert after == before  # balances, analytics, this month's page and its total
    history = own.get("/api/v1/billing/usage", tenant, params={"limit": 500}).json()
    assert sorted(e["inferenceDetails"]["requestId"] for e in history["data"]) == current
    assert history["pagination"]["total"] == len(current)

    # Repeats of archived events, whatever month they lived in, are duplicates: no new charge.
    for month in months:
        assert _record(own, tenant, f"{month}-1", UNITS[1], _at(month, 6)) == "duplicate"
    assert _figures(own, tenant, months[0]) == before
    assert _stored(own, f"ts_ms < {now.start_ms}") == []

    again = _cli("partitions", "archive", "--before", str(now), "--to", str(tmp_path),
                 "--json", "--database-url", own.settings.database_url)
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout) == {"archived": []}


def test_archive_refuses_the_current_month_onwards_and_sqlite(own: Harness, tmp_path: Path,
                                                              harness: Harness) -> None:
    later = str(Month.of(now_ms()).following())
    for url, before, wanted in ((own.settings.database_url, later, "current month"),
                                (own.settings.database_url, "2026-13", "YYYY-MM")):
        refused = _cli("partitions", "archive", "--before", before, "--to", str(tmp_path),
                       "--database-url", url)
        assert refused.exit_code == 1 and wanted in refused.stderr, refused.stderr
    if harness.backend == "sqlite":
        refused = _cli("partitions", "list", "--database-url", harness.settings.database_url)
        assert refused.exit_code == 1 and "only on PostgreSQL" in refused.stderr
