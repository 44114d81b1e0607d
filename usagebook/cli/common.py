"""What every CLI command shares: the database option, settings, running one domain
operation, and the one-line failure (`FAILED: ...` on stderr, exit non-zero, never a
traceback)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from usagebook.errors import InvalidInput, UsagebookError
from usagebook.settings import (
    DEFAULT_DATABASE_URL,
    Settings,
    SettingsError,
    normalise_database_url,
)
from usagebook.store.engine import Database, create_database
from usagebook.store.migrate import SchemaMismatch, check_schema, database_revision, upgrade

T = TypeVar("T")

DatabaseUrl = Annotated[
    str | None, typer.Option("--database-url", help="Overrides USAGEBOOK_DATABASE_URL.")
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
err = Console(stderr=True)


def fail(message: str) -> None:
    # One line, whatever the message holds: scripts read the first line of stderr.
    typer.echo("FAILED: " + " ".join(message.split()), err=True)
    raise typer.Exit(1)


def settings_for(
    database_url: str | None, *, existing: bool = True, **overrides: Any
) -> Settings:
    """The settings of a command. With `existing` (every command that reads or changes what is
    already stored), a SQLite database that is not there is one FAILED line naming its path:
    nothing is created, neither the file, its folder nor the secret kept beside it."""
    try:
        if existing:
            _require_sqlite_file(database_url or os.environ.get("USAGEBOOK_DATABASE_URL")
                                 or DEFAULT_DATABASE_URL)
        settings = Settings.from_env(database_url=database_url, **overrides)
    except SettingsError as exc:
        fail(str(exc))
        raise  # unreachable: fail() exits
    if existing and not settings.is_sqlite:
        _require_schema(settings)
    return settings


def _require_sqlite_file(database_url: str) -> None:
    url = make_url(normalise_database_url(database_url))
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return
    path = Path(url.database).resolve()
    if not path.is_file():
        fail(f"no usagebook database at {path} (set USAGEBOOK_DATABASE_URL or --database-url "
             "to yours, e.g. `. demo-data/usagebook.env` after `make demo`; `usagebook migrate` "
             "creates a new one)")


def _require_schema(settings: Settings) -> None:
    # The server-side twin of the missing SQLite file: a PostgreSQL database that was never
    # migrated is not usagebook's, and a command on stored data must not create its tables.
    shown = make_url(settings.database_url).render_as_string(hide_password=True)
    try:
        revision = database_revision(settings.database_url,
                                     settings.db_connect_timeout_seconds)
    except (OSError, ConnectionError, SQLAlchemyError) as exc:
        reason = exc.orig if isinstance(exc, DBAPIError) else exc
        fail(f"cannot read the database at {shown}: {reason}")
    else:
        if revision is None:
            fail(f"no usagebook database at {shown}: it has no usagebook tables (`usagebook "
                 "migrate --database-url ...` creates them)")


def run(settings: Settings, work: Callable[[Database], Awaitable[T]], *, migrate: bool = True,
        names: Mapping[str, str] | None = None) -> T:
    """Bring the schema up to date, then run one domain operation with a database handle.
    A bad input fails naming its fields as `names` maps the ledger's names (usagebook.errors):
    the command's options, or the columns of a file it read."""
    try:
        if migrate:
            upgrade(settings.database_url,
                    connect_timeout_seconds=settings.db_connect_timeout_seconds)
        return asyncio.run(_with_database(settings, work))
    except InvalidInput as exc:
        fail(describe_problems(exc.named(names or {})))
    except UsagebookError as exc:
        fail(exc.message)
    except (OSError, ConnectionError) as exc:
        fail(f"cannot reach the database: {exc}")
    except SQLAlchemyError as exc:  # e.g. a database that does not exist; no traceback
        fail(f"database error: {exc.orig if isinstance(exc, DBAPIError) else exc}")
    raise AssertionError("unreachable")


def describe_problems(exc: InvalidInput) -> str:
    """`field: what is wrong; ...`, led by the error's own summary unless that is the generic
    one written for HTTP answers ("Invalid request parameters" says nothing to an operator)."""
    problems = "; ".join(f"{field}: {', '.join(msgs)}" if field else ", ".join(msgs)
                         for field, msgs in exc.problems.items())
    if exc.message == InvalidInput.DEFAULT_MESSAGE or not problems:
        return problems or exc.message
    return f"{exc.message}: {problems}"


async def _with_database(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    database = create_database(settings)
    try:
        return await work(database)
    finally:
        await database.dispose()


def print_table(table: Table) -> None:
    # Piped or redirected, rich would fit an 80-column page and cut ids: print them whole.
    out = Console()
    (out if out.is_terminal else Console(width=1000)).print(table)


def emit(as_json: bool, payload: dict[str, Any], human: str) -> None:
    if as_json:
        sys.stdout.write(json.dumps(payload) + "\n")
    else:
        typer.echo(human)


def migrate_or_fail(settings: Settings) -> None:
    try:
        upgrade(settings.database_url,
                connect_timeout_seconds=settings.db_connect_timeout_seconds)
    except SchemaMismatch as exc:
        fail(str(exc))
    except Exception as exc:  # alembic and drivers raise many kinds; the operator needs one line
        fail(f"migration failed: {exc}")


def schema_or_fail(settings: Settings) -> None:
    try:
        check_schema(settings.database_url, allow_older=False)
    except SchemaMismatch as exc:
        fail(str(exc))
    except Exception as exc:  # an unreachable database, say: one line, not a traceback
        fail(f"cannot read the database schema: {exc}")


def require_free_port(host: str, port: int) -> None:
    """Fail in one line before anything starts (uvicorn would log its startup first, then fail
    to bind). Bound as uvicorn binds, with SO_REUSEADDR, so a port in TIME_WAIT counts as free."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:  # socket.gaierror included: a host that does not resolve
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")


