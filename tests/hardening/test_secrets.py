"""Secrets and tokens: weak ones refused at start with one line, the generated `<db>.secret`
and the SQLite database created owner-only, a weak or unreadable secret file never used to sign,
and `usagebook token` printing a strong one."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from usagebook.cli import app
from usagebook.secrets_file import check_strength
from usagebook.settings import Settings, SettingsError
from usagebook.store.migrate import upgrade

STRONG = "Zq3-strong-secret-9fKx7LmP2vR8tW4yB6nC"
WEAK = ["", "short", "x" * 31, "changeme", "CHANGEME" * 4, "change-me-change-me-change-me-ch",
        "secret" * 6, "x" * 32, "ab" * 20, "password" * 4, " " * 40]


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)  # the usual default, under which SQLite makes 0644 files
    yield
    os.umask(previous)


@pytest.mark.parametrize("name", ["secret_key", "operator_token"])
@pytest.mark.parametrize("weak", WEAK)
def test_a_weak_secret_or_token_is_refused_in_one_line(
    tmp_path: Path, name: str, weak: str
) -> None:
    values = {"secret_key": STRONG, "operator_token": STRONG, name: weak}
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({}, database_url=f"sqlite:///{tmp_path}/u.db", **values)
    message = str(refused.value)
    assert "\n" not in message and f"USAGEBOOK_{name.upper()}" in message


@pytest.mark.parametrize("variable", ["USAGEBOOK_SECRET_KEY", "USAGEBOOK_OPERATOR_TOKEN"])
def test_serve_refuses_a_short_token_with_one_failed_line(tmp_path: Path, variable: str) -> None:
    env = {**os.environ, "USAGEBOOK_DATABASE_URL": f"sqlite:///{tmp_path}/u.db",
           "USAGEBOOK_SECRET_KEY": STRONG, variable: "changeme"}
    done = subprocess.run([sys.executable, "-c", "from usagebook.cli import main; main()",
                           "serve", "--port", "1"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode != 0
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("FAILED: ") and variable in lines[0]


def test_the_token_command_prints_a_fresh_strong_token() -> None:
    first, second = (CliRunner().invoke(app, ["token"]) for _ in range(2))
    assert first.exit_code == 0 and second.exit_code == 0
    token = first.stdout.strip()
    assert first.stdout == token + "\n" and check_strength(token) is None
    assert len(token) >= 43 and token != second.stdout.strip()
    Settings.from_env({}, database_url="postgresql://h/db", secret_key=token, operator_token=token)


def test_the_generated_secret_file_is_created_0600_without_a_chmod(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, umask_022: None
) -> None:
    def no_chmod(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the file was readable by others until this chmod")

    monkeypatch.setattr(os, "chmod", no_chmod)
    monkeypatch.setattr(Path, "chmod", no_chmod)
    settings = Settings.from_env({}, database_url=f"sqlite:///{tmp_path}/u.db")
    secret_file = tmp_path / "u.db.secret"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert secret_file.read_text().strip() == settings.secret_key
    assert check_strength(settings.secret_key or "") is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["u.db.secret"]  # no temporary left
    again = Settings.from_env({}, database_url=f"sqlite:///{tmp_path}/u.db")
    assert again.secret_key == settings.secret_key


@pytest.mark.parametrize("kept", ["", "\n", "short", "changeme" * 5, "x" * 64])
def test_a_weak_secret_file_is_replaced_and_the_log_says_so(
    tmp_path: Path, kept: str, caplog: pytest.LogCaptureFixture
) -> None:
    secret_file = tmp_path / "u.db.secret"
    secret_file.write_text(kept)
    with caplog.at_level(logging.WARNING):
        settings = Settings.from_env({}, database_url=f"sqlite:///{tmp_path}/u.db")
    assert settings.secret_key and check_strength(settings.secret_key) is None
    assert secret_file.read_text().strip() == settings.secret_key
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert any("u.db.secret" in record.getMessage() and "replaced" in record.getMessage()
               for record in caplog.records)


def test_an_unreadable_secret_file_stops_the_start(tmp_path: Path) -> None:
    (tmp_path / "bytes.db.secret").write_bytes(b"\xff\xfe" * 30)
    (tmp_path / "dir.db.secret").mkdir()
    for name in ("bytes", "dir"):
        with pytest.raises(SettingsError) as refused:
            Settings.from_env({}, database_url=f"sqlite:///{tmp_path}/{name}.db")
        assert "secret file" in str(refused.value) and "\n" not in str(refused.value)
    assert (tmp_path / "bytes.db.secret").read_bytes() == b"\xff\xfe" * 30  # left for a human


def test_the_sqlite_database_is_created_0600(tmp_path: Path, umask_022: None) -> None:
    settings = Settings.from_env({}, database_url=f"sqlite:///{tmp_path}/ledger.db",
                                 secret_key=STRONG)
    upgrade(settings.database_url)
    made = sorted(tmp_path.iterdir())
    assert tmp_path / "ledger.db" in made, made  # else the loop below checks nothing
    for path in made:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
