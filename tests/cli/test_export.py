"""The `usagebook export` command: the same bytes as the ledger's export, a resumable file,
and one FAILED line for bad input."""

from __future__ import annotations

import io
import re
import secrets
from pathlib import Path

from typer.testing import CliRunner

from tests.support.factories import random_entries, store_entries
from tests.support.harness import Harness, Tenant
from usagebook.api.export import ExportQuery, export_entries
from usagebook.cli import app
from usagebook.timeutil import DATE_TIME_EXPECTED

ENV = {"USAGEBOOK_SECRET_KEY": "cli-export-" + secrets.token_hex(16)}


def cli(harness: Harness, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["export", "--database-url", harness.settings.database_url,
                                      *args], env=ENV)
    return result.exit_code, result.stdout, result.stderr


def test_cli_writes_the_export_and_resumes_a_file(
    harness: Harness, tenant: Tenant, tmp_path: Path
) -> None:
    harness.call(lambda db: store_entries(db, random_entries(tenant.account_id, 400, seed=71)))
    expected = io.BytesIO()
    harness.call(lambda db: export_entries(db, ExportQuery(tenant.account_id), expected))

    code, out, err = cli(harness, "--account", tenant.account_id, "--format", "csv")
    assert code == 0, err
    assert out.encode() == expected.getvalue()
    cursor = re.search(r"--after (\S+)", err)
    assert cursor and "Exported 400 entries" in err

    harness.call(lambda db: store_entries(
        db, random_entries(tenant.account_id, 30, seed=72, span_ms=1000,
                           end_ms=int(cursor[1].split("-")[0]) + 5000)))
    target = tmp_path / "usage.csv"
    target.write_bytes(expected.getvalue())
    code, _, err = cli(harness, "--account", tenant.account_id, "--format", "csv",
                       "--output", str(target), "--after", cursor[1])
    assert code == 0, err
    assert "Exported 30 entries" in err
    whole = io.BytesIO()
    harness.call(lambda db: export_entries(db, ExportQuery(tenant.account_id), whole))
    assert target.read_bytes() == whole.getvalue()


def test_cli_refuses_bad_input_with_one_failed_line(harness: Harness, tenant: Tenant) -> None:
    code, out, err = cli(harness, "--account", tenant.account_id, "--format", "csv",
                         "--currency", "EUR")
    assert code == 1 and out == ""
    assert err.startswith("FAILED: ") and "currency" in err
    code, _, err = cli(harness, "--account", "acct_nobody", "--format", "jsonl")
    assert code == 1 and err.startswith("FAILED: No account acct_nobody")


def test_a_bad_start_is_one_failed_line_naming_the_option_before_any_database_work(
    harness: Harness, tenant: Tenant
) -> None:
    unreachable = "postgresql+asyncpg://nobody@127.0.0.1:9/none"
    result = CliRunner().invoke(app, ["export", "--database-url", unreachable, "--account",
                                      tenant.account_id, "--format", "csv",
                                      "--start", "2026-06-15", "--end", "soon"], env=ENV)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (f"FAILED: --start {DATE_TIME_EXPECTED}; "
                             f"--end {DATE_TIME_EXPECTED}\n")


def test_any_number_of_connections_writes_the_same_bytes(harness: Harness, tenant: Tenant) -> None:
    harness.call(lambda db: store_entries(db, random_entries(tenant.account_id, 300, seed=73)))
    expected = io.BytesIO()
    harness.call(lambda db: export_entries(db, ExportQuery(tenant.account_id), expected,
                                           batch_size=40))
    for connections in (1, 3):
        written = io.BytesIO()
        harness.call(lambda db, n=connections, out=written: export_entries(
            db, ExportQuery(tenant.account_id), out, batch_size=40, connections=n))
        assert written.getvalue() == expected.getvalue(), connections
    code, out, err = cli(harness, "--account", tenant.account_id, "--format", "csv",
                         "--connections", "1")
    assert code == 0 and out.encode() == expected.getvalue(), err
    code, _, err = cli(harness, "--account", tenant.account_id, "--format", "csv",
                       "--connections", "0")
    assert code != 0 and "connections" in err
