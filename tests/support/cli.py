"""Running the operator CLI from a test: in process on a harness's database (typer's runner), or
as the installed console script, and what a refusal must look like (one `FAILED:` line)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from tests.support.harness import Harness
from usagebook.cli import app

SECRET_ENV = {"USAGEBOOK_SECRET_KEY": "cli-test-secret-0123456789abcdef"}
ACCOUNT_ID = re.compile(r"^acct_[A-Za-z0-9]+$")
KEY_ID = re.compile(r"^key_[A-Za-z0-9]+$")
CONSOLE_SCRIPT = Path(sys.executable).parent / "usagebook"


def cli(harness: Harness, *args: str) -> Any:
    """Run a command in-process on the harness's database; returns typer's Result."""
    result = CliRunner().invoke(app, [*args, "--database-url", harness.settings.database_url],
                                env=SECRET_ENV)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def ok_json(harness: Harness, *args: str) -> dict[str, Any]:
    result = cli(harness, *args, "--json")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    payload: dict[str, Any] = json.loads(lines[0])
    return payload


def assert_failed(result: Any) -> str:
    """One `FAILED:` line on stderr, nothing on stdout, a non-zero exit (a CliRunner Result or
    a CompletedProcess)."""
    assert getattr(result, "exit_code", getattr(result, "returncode", 0)) != 0
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("FAILED: "), result.stderr
    assert "Traceback" not in result.stderr
    return str(lines[0])
