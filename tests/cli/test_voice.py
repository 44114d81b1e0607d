"""The CLI's voice for a newcomer: commands on stored data never create a database, failures are
one plain `FAILED:` line that does not speak HTTP, a busy port fails before anything starts,
help shows plain type names, and `make help` shows the real address."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import stat
import subprocess
from pathlib import Path

import asyncpg
import pytest
import typer
from typer.testing import CliRunner

from tests.support.cli import CONSOLE_SCRIPT, KEY_ID, SECRET_ENV, assert_failed, cli
from tests.support.harness import Harness, Tenant, create_postgres_database
from usagebook.cli import app

REPO = Path(__file__).resolve().parents[2]
STORED_DATA_COMMANDS = [
    ("keys", "list", "--account", "acct_x"),
    ("keys", "create", "--account", "acct_x", "--type", "ADMIN"),
    ("keys", "revoke", "key_x"),
    ("prices", "list"),
    ("credits", "grant", "--account", "acct_x", "--currency", "USD", "--amount", "1"),
    ("accounts", "set-diem", "--account", "acct_x", "--allocation", "5"),
    ("export", "--account", "acct_x", "--format", "csv"),
]


@pytest.mark.parametrize("args", STORED_DATA_COMMANDS, ids=lambda a: "-".join(a[:2]))
def test_commands_on_stored_data_create_no_database(tmp_path: Path, args: tuple[str, ...]) -> None:
    missing = tmp_path / "no-such-folder" / "usagebook.db"
    result = CliRunner().invoke(app, [*args, "--database-url", f"sqlite:///{missing}"],
                                env=SECRET_ENV)
    line = assert_failed(result)
    assert f"no usagebook database at {missing}" in line
    assert not missing.parent.exists()


def test_the_default_database_is_not_created_either(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("USAGEBOOK_")}
    ran = subprocess.run([str(CONSOLE_SCRIPT), "keys", "list", "--account", "acct_x"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
                         check=False)
    assert f"no usagebook database at {tmp_path / 'usagebook.db'}" in assert_failed(ran)
    assert list(tmp_path.iterdir()) == []  # neither the file nor its .secret


def test_errors_name_the_option_in_plain_words(harness: Harness, tenant: Tenant) -> None:
    line = assert_failed(cli(harness, "credits", "grant", "--account", tenant.account_id,
                             "--currency", "EUR", "--amount", "ten"))
    assert line == ("FAILED: currency: must be one of USD, BUNDLED_CREDITS; "
                    "amount: must be a decimal number")
    assert "request" not in line.lower() and "parameters" not in line


def test_serve_on_a_busy_port_is_one_failed_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        ran = subprocess.run(
            [str(CONSOLE_SCRIPT), "serve", "--port", str(port), "--database-url",
             f"sqlite:///{tmp_path}/serve.db"], env={**os.environ, **SECRET_ENV},
            capture_output=True, text=True, timeout=120, check=False)
    line = assert_failed(ran)  # nothing logged before it, no "Application startup complete"
    assert line == f"FAILED: cannot listen on 127.0.0.1:{port}: Address already in use"


def _command_paths(group: typer.core.TyperGroup, prefix: tuple[str, ...] = ()
                   ) -> list[tuple[str, ...]]:
    paths = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, typer.core.TyperGroup):
            paths += _command_paths(command, (*prefix, name))
        else:
            paths.append((*prefix, name))
    return paths


@pytest.mark.parametrize("path", _command_paths(typer.main.get_group(app)), ids=" ".join)
def test_help_names_types_in_plain_words(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    assert not re.search(r"<[a-z][a-z ]*>", result.output), result.output  # <str>, <bool>
    assert "BOOL" not in result.output  # a flag takes no value


def test_make_help_prints_the_real_address() -> None:
    ran = subprocess.run(["make", "--no-print-directory", "help", "HOST=0.0.0.0", "PORT=8123"],
                         cwd=REPO, capture_output=True, text=True, timeout=60, check=True)
    assert "http://0.0.0.0:8123/" in ran.stdout
    assert "$(" not in ran.stdout


def test_demo_writes_the_environment_the_cli_and_server_share(tmp_path: Path) -> None:
    env_file = tmp_path / "demo-data" / "usagebook.env"
    made = CliRunner().invoke(app, ["demo", "--entries", "20", "--json", "--env-file",
                                    str(env_file), "--database-url",
                                    f"sqlite:///{tmp_path}/demo-data/usagebook.db"])
    assert made.exit_code == 0, made.stderr
    payload = json.loads(made.stdout)
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600  # it holds keys and the token
    # From another folder, with nothing but the file: the CLI finds the demo's database.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = (f". {env_file} && {CONSOLE_SCRIPT} keys list --account \"$DEMO_ACCOUNT_ID\" --json"
              " && echo \"$USAGEBOOK_OPERATOR_TOKEN $DEMO_INFERENCE_KEY_ID\"")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("USAGEBOOK_")}
    ran = subprocess.run(["bash", "-c", script], cwd=elsewhere, env=clean, capture_output=True,
                         text=True, timeout=120, check=True)
    listed, echoed = ran.stdout.splitlines()
    key_ids = [key["id"] for key in json.loads(listed)["keys"]]
    assert payload["adminKeyId"] in key_ids and payload["inferenceKeyId"] in key_ids
    assert echoed == f"{payload['operatorToken']} {payload['inferenceKeyId']}"
    assert KEY_ID.match(payload["inferenceKeyId"]) and len(payload["operatorToken"]) >= 32
    assert list(elsewhere.iterdir()) == []


def test_key_ids_are_printed_whole_when_piped(harness: Harness, tenant: Tenant) -> None:
    listed = cli(harness, "keys", "list", "--account", tenant.account_id)
    assert listed.exit_code == 0
    assert tenant.admin_key_id in listed.stdout and tenant.inference_key_id in listed.stdout


@pytest.mark.parametrize("args", STORED_DATA_COMMANDS[:3], ids=lambda a: "-".join(a[:2]))
def test_an_unmigrated_postgresql_database_is_left_empty(args: tuple[str, ...]) -> None:
    url, drop = create_postgres_database()
    try:
        # A password in the URL (trust authentication ignores it) must not reach the message.
        role = asyncio.run(_current_role(url))
        with_password = url.replace("postgresql://", f"postgresql://{role}:hunter2@", 1)
        shown = with_password.replace(":hunter2@", ":***@").replace(
            "postgresql://", "postgresql+asyncpg://", 1)
        result = CliRunner().invoke(app, [*args, "--database-url", with_password],
                                    env=SECRET_ENV)
        line = assert_failed(result)
        assert line.startswith(f"FAILED: no usagebook database at {shown}:"), line
        assert "hunter2" not in line
        assert asyncio.run(_table_names(url)) == []
    finally:
        drop()


def test_an_unreachable_postgresql_is_one_line_without_its_password() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, never listening: connections are refused
        result = CliRunner().invoke(app, ["keys", "list", "--account", "acct_x", "--database-url",
                                          f"postgresql://u:hunter2@127.0.0.1:{port}/x"],
                                    env=SECRET_ENV)
    line = assert_failed(result)
    assert line.startswith(f"FAILED: cannot read the database at "
                           f"postgresql+asyncpg://u:***@127.0.0.1:{port}/x: "), line


async def _current_role(url: str) -> str:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        return str(await conn.fetchval("SELECT current_user"))
    finally:
        await conn.close()


async def _table_names(url: str) -> list[str]:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await conn.close()
    return [row[0] for row in rows]
