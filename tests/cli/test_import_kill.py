"""`usagebook import` killed with SIGKILL mid-file, then run again, ends with exactly the file's
events, each once (a real process and a real kill -9, on both backends)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from tests.support.cli import CONSOLE_SCRIPT, SECRET_ENV, ok_json
from tests.support.harness import Harness
from tests.support.recording import audit_clean, grant, set_diem
from usagebook.store.engine import Database
from usagebook.store.entries import EntryFilter, count_entries, list_entries_page

EVENTS = 12_000
BATCH = "300"


def _count(harness: Harness, account_id: str) -> int:
    async def work(db: Database) -> int:
        async with db.read() as conn:
            return await count_entries(conn, EntryFilter(account_id))

    return harness.call(work)


def _request_ids(harness: Harness, account_id: str) -> list[str]:
    async def work(db: Database) -> list[str]:
        async with db.read() as conn:
            rows = await list_entries_page(
                conn, EntryFilter(account_id), descending=False, limit=EVENTS + 1, offset=0
            )
        return [row.request_id for row in rows]

    return harness.call(work)


def test_sigkill_then_rerun_records_each_event_once(harness: Harness, tmp_path: Path) -> None:
    account = harness.tenant("import kill").account_id
    set_diem(harness, account, "1")
    grant(harness, account, "BUNDLED_CREDITS", "2")
    source = tmp_path / "history.jsonl"
    with source.open("w") as out:
        for i in range(EVENTS):
            day = 1 + i % 28
            out.write(
                json.dumps(
                    {
                        "requestId": f"h-{i}",
                        "sku": "flux-dev-image-unit",
                        "units": str(1 + i % 5),
                        "accountId": account,
                        "timestamp": f"2026-02-{day:02d}T12:00:00.000Z",
                    }
                )
                + "\n"
            )
    checkpoint = source.with_name(source.name + ".checkpoint")
    command = [
        str(CONSOLE_SCRIPT),
        "import",
        str(source),
        "--batch-size",
        BATCH,
        "--database-url",
        harness.settings.database_url,
    ]
    process = subprocess.Popen(
        command,
        env={**os.environ, **SECRET_ENV},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not checkpoint.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL
    partial = _count(harness, account)
    assert 0 < partial < EVENTS, partial  # killed in the middle, after some commits

    report = ok_json(harness, "import", str(source), "--batch-size", BATCH)
    assert report["resumedFromLine"] > 0
    assert report["recorded"] + partial == EVENTS
    assert report["conflict"] == 0
    stored = _request_ids(harness, account)
    assert len(stored) == EVENTS and set(stored) == {f"h-{i}" for i in range(EVENTS)}
    assert not checkpoint.exists()
    audit_clean(harness, account)
