"""The operator CLI against real SQLite and PostgreSQL databases: migrate, accounts, keys and
demo, their `--json` shapes (the contract's last section), and one FAILED line on failure."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tests.support.cli import (
    ACCOUNT_ID,
    CONSOLE_SCRIPT,
    KEY_ID,
    SECRET_ENV,
    assert_failed,
    cli,
    ok_json,
)
from tests.support.harness import POSTGRES_URL, Harness, Tenant
from tests.support.usage import URL, assert_standard_error, page, request_ids
from usagebook.cli import app, main
from usagebook.store.tables.accounts import api_keys


def _key_rows(harness: Harness, account_id: str) -> list[dict[str, Any]]:
    async def rows(_db: object) -> list[dict[str, Any]]:
        async with harness.database.read() as conn:
            found = await conn.execute(select(api_keys).where(api_keys.c.account_id == account_id))
            return [dict(row._mapping) for row in found]

    return harness.call(rows)


def test_migrate_is_idempotent(harness: Harness) -> None:
    for _ in range(2):
        result = cli(harness, "migrate")
        assert result.exit_code == 0, result.stderr
        assert "up to date" in result.stdout


def test_migrate_a_fresh_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/fresh.db"
    result = CliRunner().invoke(app, ["migrate", "--database-url", url])
    assert result.exit_code == 0, result.stderr
    created = CliRunner().invoke(app, ["accounts", "create", "Fresh", "--json",
                                       "--database-url", url])
    assert ACCOUNT_ID.match(json.loads(created.stdout)["id"])


def test_accounts_and_keys_round_trip(harness: Harness) -> None:
    account = ok_json(harness, "accounts", "create", "  Acme Corp ")
    assert set(account) == {"id", "name"}
    assert ACCOUNT_ID.match(account["id"]) and account["name"] == "Acme Corp"
    created = ok_json(harness, "keys", "create", "--account", account["id"], "--type", "ADMIN",
                      "--description", "Finance", "--expires", "2099-01-01T00:00:00Z")
    assert set(created) == {"id", "key", "type", "description", "accountId"}
    assert KEY_ID.match(created["id"])
    assert (created["type"], created["description"], created["accountId"]) == (
        "ADMIN", "Finance", account["id"])
    assert len(created["key"]) >= 32
    inference = ok_json(harness, "keys", "create", "--account", account["id"], "--type",
                        "INFERENCE")
    assert (inference["type"], inference["description"]) == ("INFERENCE", "")

    listed = ok_json(harness, "keys", "list", "--account", account["id"])
    assert listed["accountId"] == account["id"]
    assert [k["id"] for k in listed["keys"]] == [created["id"], inference["id"]]
    first = listed["keys"][0]
    assert first["expires"] == "2099-01-01T00:00:00.000Z" and first["revoked"] is None
    assert created["key"] not in json.dumps(listed)

    # The new key reads the account's (empty) ledger; revoked, it stops at once.
    tenant = Tenant(account["id"], created["key"], inference["key"], created["id"],
                    inference["id"])
    assert page(harness, tenant)["pagination"]["total"] == 0
    assert ok_json(harness, "keys", "revoke", created["id"]) == {"id": created["id"],
                                                                 "revoked": True}
    # The app is another process as far as the CLI knows: it keeps the key it has read for up
    # to 4 s (tests/faults/test_revocation.py holds every server process to the 5 s contract).
    # Here its cache is emptied, to see that the stored revocation is what refuses the key.
    harness.database.keys.clear()
    assert_standard_error(harness.get(URL, tenant), 401)
    revoked = ok_json(harness, "keys", "list", "--account", account["id"])["keys"][0]
    assert revoked["revoked"] is not None

    # Only the SHA-256 of each secret is stored.
    rows = _key_rows(harness, account["id"])
    hashes = {row["id"]: row["secret_hash"] for row in rows}
    for made in (created, inference):
        assert hashes[made["id"]] == hashlib.sha256(made["key"].encode()).hexdigest()
        assert not any(made["key"] in str(value) for row in rows for value in row.values())


def test_human_output_prints_the_secret_once(harness: Harness) -> None:
    account = cli(harness, "accounts", "create", "Human")
    assert account.exit_code == 0 and ACCOUNT_ID.match(account.stdout.strip())
    made = cli(harness, "keys", "create", "--account", account.stdout.strip(), "--type", "ADMIN")
    key_id, secret = made.stdout.splitlines()[:2]
    assert KEY_ID.match(key_id) and secret.startswith("ubk_")


@pytest.mark.parametrize("args", [
    ("accounts", "create", "   "),
    ("keys", "create", "--account", "acct_missing", "--type", "ADMIN"),
    ("keys", "create", "--account", "acct_missing", "--type", "ADMIN", "--expires",
     "2001-01-01T00:00:00Z"),
    ("keys", "list", "--account", "acct_missing"),
    ("keys", "revoke", "key_missing"),
], ids=["empty-name", "no-account", "past-expiry", "list-no-account", "revoke-no-key"])
def test_failures_print_one_failed_line(harness: Harness, args: tuple[str, ...]) -> None:
    assert_failed(cli(harness, *args))
    assert_failed(cli(harness, *args, "--json"))


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def _main(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
          *args: str) -> Ran:
    """The console script's own entry point, in-process (a subprocess costs seconds)."""
    monkeypatch.setattr(sys, "argv", ["usagebook", *args])
    for name, value in SECRET_ENV.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as exited:
        main()
    captured = capsys.readouterr()
    return Ran(int(exited.value.code or 0), captured.out, captured.err)


@pytest.mark.parametrize("args", [
    ("keys", "create", "--account", "acct_x", "--type", "SUPER"),
    ("keys", "create", "--type", "ADMIN"),
    ("keys", "create", "--account", "acct_x", "--type", "ADMIN", "--expires", "soon"),
    ("demo", "--entries", "-1"),
    ("no-such-command",),
    ("migrate", "--database-url", "mysql://localhost/x"),
    ("accounts", "create", "x", "--database-url", "postgresql://127.0.0.1:1/none"),
    ("accounts", "create", "x", "--database-url",
     POSTGRES_URL.rsplit("/", 1)[0] + "/usagebook_no_such_database"),
], ids=["bad-type", "missing-account", "bad-expiry", "negative-entries", "no-command",
        "bad-url", "unreachable", "no-such-database"])
def test_usage_and_connection_errors_are_one_failed_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...]
) -> None:
    assert_failed(_main(capsys, monkeypatch, *args))


def test_no_arguments_shows_the_help(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ran = _main(capsys, monkeypatch)
    assert "Usage" in ran.stdout + ran.stderr and "FAILED" not in ran.stderr


def test_the_installed_console_script_reports_one_failed_line() -> None:
    ran = subprocess.run([str(CONSOLE_SCRIPT), "keys", "create", "--account", "acct_x",
                          "--type", "SUPER"], capture_output=True, text=True, timeout=120,
                         env={**os.environ, **SECRET_ENV}, check=False)
    assert "'--type'" in assert_failed(ran)


def test_demo_then_read_its_entries_through_the_api(harness: Harness) -> None:
    made = ok_json(harness, "demo", "--entries", "57")
    assert set(made) == {"accountId", "adminKey", "inferenceKey", "adminKeyId", "inferenceKeyId",
                         "operatorToken", "databaseUrl"}
    assert ACCOUNT_ID.match(made["accountId"])
    assert KEY_ID.match(made["adminKeyId"]) and KEY_ID.match(made["inferenceKeyId"])
    assert len(made["operatorToken"]) >= 32
    tenant = Tenant(made["accountId"], made["adminKey"], made["inferenceKey"], "", "")
    first = page(harness, tenant, limit=25, sortOrder="asc")
    assert first["pagination"] == {"limit": 25, "page": 1, "total": 57, "totalPages": 3}
    seen = request_ids(first)
    for number in (2, 3):
        seen += request_ids(page(harness, tenant, limit=25, page=number, sortOrder="asc"))
    assert len(seen) == 57
    currencies = {item["currency"] for item in page(harness, tenant, limit=500)["data"]}
    # The demo records through the consumption order with a DIEM allocation: a small demo's
    # first charges go to DIEM (larger ones spill into bundled credits and USD).
    assert "DIEM" in currencies <= {"USD", "DIEM", "BUNDLED_CREDITS"}
    inference = harness.client.get(URL, headers={"Authorization":
                                                 f"Bearer {made['inferenceKey']}"})
    assert assert_standard_error(inference, 401) == {"error": "Admin API key required"}
    rows = _key_rows(harness, made["accountId"])
    assert len(rows) >= 4  # admin, inference and the demo's other keys
    assert not any(made["adminKey"] in str(value) for row in rows for value in row.values())
