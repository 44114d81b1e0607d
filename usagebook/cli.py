"""The operator CLI. Each command parses options, calls one domain function and prints; a failure
prints one `FAILED: ...` line on stderr and exits non-zero, never a traceback."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shlex
import socket
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, BinaryIO, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Column, Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from usagebook.cli_help import PlainGroup
from usagebook.errors import InvalidInput, UsagebookError
from usagebook.ledger import accounts, balances, demo, export, importer, pricing
from usagebook.ledger.catalog import list_catalog
from usagebook.money import format_decimal
from usagebook.secrets_file import new_token, write_private_text
from usagebook.settings import (
    DEFAULT_DATABASE_URL,
    Settings,
    SettingsError,
    normalise_database_url,
)
from usagebook.store.engine import Database, create_database
from usagebook.store.migrate import SchemaMismatch, check_schema, database_revision, upgrade

T = TypeVar("T")

app = typer.Typer(help="usagebook: a usage-billing ledger for AI inference APIs.",
                  no_args_is_help=True, pretty_exceptions_enable=False, cls=PlainGroup)
accounts_app = typer.Typer(help="Manage accounts.", no_args_is_help=True, cls=PlainGroup)
app.add_typer(accounts_app, name="accounts")
prices_app = typer.Typer(help="Manage the SKU price list.", no_args_is_help=True, cls=PlainGroup)
credits_app = typer.Typer(help="Grant credit to accounts.", no_args_is_help=True, cls=PlainGroup)
app.add_typer(prices_app, name="prices")
app.add_typer(credits_app, name="credits")

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


def run(settings: Settings, work: Callable[[Database], Awaitable[T]], *, migrate: bool = True) -> T:
    """Bring the schema up to date, then run one domain operation with a database handle."""
    try:
        if migrate:
            upgrade(settings.database_url,
                    connect_timeout_seconds=settings.db_connect_timeout_seconds)
        return asyncio.run(_with_database(settings, work))
    except InvalidInput as exc:
        fail(describe_problems(exc))
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


@app.command()
def migrate(database_url: DatabaseUrl = None) -> None:
    """Create or upgrade the database schema."""
    migrate_or_fail(settings_for(database_url, existing=False))
    typer.echo("Database schema is up to date.")


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


@app.command()
def serve(
    database_url: DatabaseUrl = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(
        min=1, help="Server processes sharing the port (one core each; /metrics and, without "
                    "Redis, rate limits and the analytics cache are per process).")] = 1,
    migrate_first: Annotated[bool, typer.Option(
        "--migrate/--no-migrate",
        help="Upgrade an older schema first (one host at a time), or refuse to serve it.")] = True,
) -> None:
    """Migrate if needed, then serve the API (and the dashboard at /). A schema newer than
    this code (or older, with --no-migrate) is refused: the host does not half-work."""
    import uvicorn

    from usagebook.app import create_app, tune_garbage_collector
    from usagebook.logs import configure_logging
    from usagebook.server import server_options

    settings = settings_for(database_url, existing=False)
    _require_free_port(host, port)
    if migrate_first:
        migrate_or_fail(settings)
    else:
        schema_or_fail(settings)
    configure_logging()  # JSON lines; the request middleware writes the access log itself
    options: dict[str, Any] = {"host": host, "port": port, "log_config": None,
                               "access_log": False,
                               **server_options()}  # limits: see usagebook.server
    if workers == 1:
        app = create_app(settings)
        tune_garbage_collector()
        uvicorn.run(app, **options)
        return
    # Workers are fresh processes that build their settings from the environment: hand them
    # exactly what was resolved here (the --database-url flag, SQLite's generated secret).
    os.environ["USAGEBOOK_DATABASE_URL"] = settings.database_url
    if settings.secret_key:
        os.environ["USAGEBOOK_SECRET_KEY"] = settings.secret_key
    uvicorn.run("usagebook.app:create_app_from_env", factory=True, workers=workers, **options)


def _require_free_port(host: str, port: int) -> None:
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


@app.command()
def gateway(
    upstream: Annotated[str, typer.Option(help="The OpenAI-compatible server, e.g. "
                                          "http://127.0.0.1:8000.")],
    ledger: Annotated[str, typer.Option(help="The usagebook server that bills, e.g. "
                                        "http://127.0.0.1:8100.")],
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    queue: Annotated[Path, typer.Option(help="The durable queue of usage not yet recorded "
                                        "(an SQLite file).")] = Path("usagebook-gateway.db"),
    max_estimate_tokens: Annotated[int, typer.Option(
        min=1, help="Caps the output tokens an estimate holds.")] = 4096,
    fail_open: Annotated[bool, typer.Option(
        help="While the ledger is unreachable, serve keys already seen and record later.")
    ] = False,
) -> None:
    """Serve an OpenAI-compatible metering gateway: authorize, forward, record."""
    import uvicorn

    from usagebook.gateway import GatewayConfig, create_gateway_app
    from usagebook.logs import configure_logging

    try:
        config = GatewayConfig.from_env(
            upstream_url=upstream, ledger_url=ledger, queue_path=queue,
            max_estimate_tokens=max_estimate_tokens, fail_open=fail_open)
    except SettingsError as exc:
        fail(str(exc))
        return
    _require_free_port(host, port)
    configure_logging()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per upstream/ledger call
    uvicorn.run(create_gateway_app(config), host=host, port=port, log_config=None,
                access_log=False)


@app.command()
def token() -> None:
    """Print a fresh strong secret, for USAGEBOOK_OPERATOR_TOKEN or USAGEBOOK_SECRET_KEY."""
    typer.echo(new_token())


@accounts_app.command("create")
def accounts_create(name: str, database_url: DatabaseUrl = None, as_json: JsonFlag = False) -> None:
    """Create an account and print its id."""
    account = run(settings_for(database_url, existing=False),
                  lambda db: accounts.create_account(db, name))
    emit(as_json, {"id": account.id, "name": account.name}, account.id)


@app.command("demo")
def demo_command(
    entries: Annotated[int, typer.Option(min=0, help="How many usage entries to create.")] = (
        100_000),
    env_file: Annotated[Path | None, typer.Option(
        help="Also write the export lines below to this file (`. FILE` in a shell).")] = None,
    database_url: DatabaseUrl = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a demo account, its keys, a SKU catalog and realistic usage over 90 days, and a
    fresh operator token for recording; print the `export` lines that let the CLI, curl and
    `usagebook serve` use this database and token."""
    settings = settings_for(database_url, existing=False)
    quiet = as_json or not err.is_terminal
    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=err, disable=quiet) as bar:
        task = bar.add_task("Recording demo usage", total=entries)
        made = run(settings, lambda db: demo.create_demo(
            db, entries, progress=lambda n: bar.advance(task, n)))
    token = new_token()  # recording is refused without one; never a fixed one
    exports = demo_exports(settings.database_url, token, made)
    if env_file is not None:
        # It holds the keys and the token: owner-only from its first byte.
        write_private_text(env_file, "# Written by `usagebook demo`; `. this-file` in a shell.\n"
                           + "".join(f"export {k}={shlex.quote(v)}\n" for k, v in exports.items()))
    payload = {"accountId": made.account_id, "adminKey": made.admin_key,
               "inferenceKey": made.inference_key, "adminKeyId": made.admin_key_id,
               "inferenceKeyId": made.inference_key_id, "operatorToken": token,
               "databaseUrl": exports["USAGEBOOK_DATABASE_URL"]}
    where = f" (also written to {env_file})" if env_file else ""
    emit(as_json, payload,
         f"Demo account {made.account_id} with {made.entries} entries.\n"
         f"ADMIN key (shown once):     {made.admin_key}  (id {made.admin_key_id})\n"
         f"INFERENCE key (shown once): {made.inference_key}  (id {made.inference_key_id})\n"
         f"Operator token (recording): {token}\n"
         f"For the CLI, curl and `usagebook serve` to share this database and token{where}:\n"
         + "\n".join(f"  export {k}={shlex.quote(v)}" for k, v in exports.items()))


def demo_exports(database_url: str, token: str, made: demo.DemoAccount) -> dict[str, str]:
    """The demo's environment: a SQLite path made absolute, so it holds from any folder."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        database_url = "sqlite:///" + str(Path(str(url.database)).resolve())
    return {"USAGEBOOK_DATABASE_URL": database_url, "USAGEBOOK_OPERATOR_TOKEN": token,
            "DEMO_ACCOUNT_ID": made.account_id, "DEMO_ADMIN_KEY": made.admin_key,
            "DEMO_ADMIN_KEY_ID": made.admin_key_id, "DEMO_INFERENCE_KEY": made.inference_key,
            "DEMO_INFERENCE_KEY_ID": made.inference_key_id}


@prices_app.command("import")
def prices_import(file: Path, database_url: DatabaseUrl = None, as_json: JsonFlag = False) -> None:
    """Load a price list (CSV with a header row, or JSON); it prices events recorded from now
    on, while stored entries keep the price they were charged."""
    count = run(settings_for(database_url, existing=False),
                lambda db: pricing.import_prices(db, file))
    emit(as_json, {"file": str(file), "skus": count}, f"Imported {count} SKU prices.")


@prices_app.command("list")
def prices_list(database_url: DatabaseUrl = None, as_json: JsonFlag = False) -> None:
    """List the SKU catalog and its current prices."""
    rows = run(settings_for(database_url), list_catalog)
    listed = [{"sku": r.sku, "modelId": r.model_id, "modelName": r.model_name,
               "modelType": r.model_type, "unitType": r.unit_type,
               "unitTypePerUnit": format_decimal(r.unit_type_per_unit),
               "usageType": r.usage_type,
               "pricePerUnitUsd": format_decimal(r.price_per_unit_usd)} for r in rows]
    if as_json:
        emit(True, {"skus": listed}, "")
        return
    table = Table(Column("sku", no_wrap=True), "model", "usage", "unit", "USD per unit")
    for item in listed:
        table.add_row(item["sku"], item["modelName"], item["usageType"], item["unitType"],
                      item["pricePerUnitUsd"])
    print_table(table)


@credits_app.command("grant")
def credits_grant(
    account: Annotated[str, typer.Option("--account", help="Account id (acct_...).")],
    currency: Annotated[str, typer.Option(help="USD or BUNDLED_CREDITS.")],
    amount: Annotated[str, typer.Option(help="Exact decimal; negative for an adjustment.")],
    note: Annotated[str | None, typer.Option(help="Why: purchase, refund, promotion...")] = None,
    database_url: DatabaseUrl = None,
    as_json: JsonFlag = False,
) -> None:
    """Grant credit (or adjust it) in USD or BUNDLED_CREDITS, with a note."""
    made = run(settings_for(database_url),
               lambda db: balances.grant_credit(db, account, currency, amount, note))
    emit(as_json, {"accountId": account, "currency": made.currency,
                   "amount": format_decimal(made.amount), "notes": made.notes},
         f"Granted {made.amount} {made.currency} to {account}.")


@accounts_app.command("set-diem")
def accounts_set_diem(
    account: Annotated[str, typer.Option("--account", help="Account id (acct_...).")],
    allocation: Annotated[str, typer.Option(help="DIEM per UTC day; `none` removes it.")],
    database_url: DatabaseUrl = None,
    as_json: JsonFlag = False,
) -> None:
    """Set the DIEM allocation that every UTC day starts with."""
    value = None if allocation.strip().lower() == "none" else allocation
    made = run(settings_for(database_url),
               lambda db: balances.set_diem_allocation(db, account, value))
    emit(as_json, {"accountId": account,
                   "diemAllocation": None if made is None else format_decimal(made)},
         f"DIEM allocation of {account}: {made if made is not None else 'none'} per day.")


@app.command("import")
def import_command(
    file: Path,
    account: Annotated[str | None, typer.Option(
        "--account", help="Account of events that name neither accountId nor apiKeyId.")] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=1000, help="Events per batch.")] = 1000,
    checkpoint: Annotated[Path | None, typer.Option(
        help="Progress file (default: FILE.checkpoint); lets a rerun skip finished work.")] = None,
    database_url: DatabaseUrl = None,
    as_json: JsonFlag = False,
) -> None:
    """Backfill a JSON Lines file of usage events through the recording path. Safe to rerun
    after an interruption: each event is recorded once."""
    job = importer.ImportJob(file, account, batch_size, checkpoint)
    total = file.stat().st_size if file.exists() else 0
    with Progress("[progress.description]{task.description}", BarColumn(),
                  TimeRemainingColumn(), console=err,
                  disable=as_json or not err.is_terminal) as bar:
        task = bar.add_task(f"Importing {file.name}", total=total)
        report = run(settings_for(database_url), lambda db: importer.import_file(
            db, job, progress=lambda done: bar.update(task, completed=done)))
    payload = {"file": str(file), "recorded": report.recorded, "duplicate": report.duplicate,
               "conflict": report.conflict, "lines": report.lines,
               "resumedFromLine": report.resumed_from_line,
               "conflictLines": report.conflict_lines[:100]}
    emit(as_json, payload,
         f"{file}: {report.recorded} recorded, {report.duplicate} duplicate, "
         f"{report.conflict} conflict ({report.lines} lines"
         + (f", resumed after line {report.resumed_from_line})" if report.resumed_from_line
            else ")"))


class ExportFormat(StrEnum):
    csv = "csv"
    jsonl = "jsonl"


@app.command("export")
def export_command(
    account: Annotated[str, typer.Option("--account", help="Account id (acct_...).")],
    fmt: Annotated[ExportFormat, typer.Option("--format", help="csv or jsonl.")],
    start: Annotated[str | None, typer.Option(
        help="ISO 8601 date-time, inclusive, e.g. 2026-06-15T00:00:00Z.")] = None,
    end: Annotated[str | None, typer.Option(
        help="ISO 8601 date-time, inclusive, e.g. 2026-06-30T23:59:59.999Z.")] = None,
    currency: Annotated[str | None, typer.Option(help="USD, DIEM, BUNDLED_CREDITS or VCU.")] = None,
    output: Annotated[Path | None, typer.Option(
        help="File to write (default: stdout); with --after it is appended to.")] = None,
    after: Annotated[str | None, typer.Option(
        help="Resume after this cursor, as printed by an earlier export.")] = None,
    connections: Annotated[int, typer.Option(
        min=1, max=8, help="PostgreSQL CSV: connections formatting batches at once, all "
        "reading one snapshot (each keeps a server process busy).")] = export.COPY_CONNECTIONS,
    database_url: DatabaseUrl = None,
) -> None:
    """Stream every entry /billing/usage lists for these filters, oldest first, in constant
    memory; print the cursor of the last entry written on stderr (also when interrupted)."""
    query = export.ExportQuery(account, fmt.value, currency, start, end, after)
    _check_export_options(query)
    settings = settings_for(database_url)
    total = run(settings, lambda db: export.count_remaining(db, query)) if err.is_terminal else None
    last = export.Exported(0, after)
    with _export_sink(output, append=after is not None) as out, Progress(
        "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
        TimeRemainingColumn(), console=err, disable=total is None,
    ) as bar:
        task = bar.add_task("Exporting", total=total)

        def on_batch(done: export.Exported) -> None:
            nonlocal last
            last = done
            bar.update(task, completed=done.entries)

        try:
            last = run(settings, lambda db: export.export_entries(
                db, query, out, on_batch, connections=connections), migrate=total is None)
        except KeyboardInterrupt:
            resume = f"resume with --after {last.cursor}" if last.cursor else "nothing written"
            fail(f"interrupted after {last.entries} entries; {resume}")
    resume = f"; resume after them with --after {last.cursor}" if last.cursor else ""
    err.print(f"Exported {last.entries} entries{resume}", markup=False, highlight=False)


def _check_export_options(query: export.ExportQuery) -> None:
    # Before any database work, and named as typed: each of the query's fields is its option.
    try:
        query.resolve()
    except InvalidInput as exc:
        fail("; ".join(f"--{field} {', '.join(problems)}"
                       for field, problems in exc.problems.items()))


@contextmanager
def _export_sink(output: Path | None, *, append: bool) -> Iterator[BinaryIO]:
    if output is None:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    with output.open("ab" if append else "wb") as sink:
        yield sink


# The `keys` commands live in their own module, which uses the helpers above.
from usagebook.cli_keys import keys_app  # noqa: E402

app.add_typer(keys_app, name="keys")
from usagebook.cli_limits import limits_app  # noqa: E402

app.add_typer(limits_app, name="limits")
from usagebook.cli_partitions import partitions_app  # noqa: E402

app.add_typer(partitions_app, name="partitions")


def main() -> None:
    """The console script: usage errors (a missing or bad option) also end in one FAILED line."""
    try:
        code = app(standalone_mode=False)
    except typer.TyperException as exc:  # typer's (vendored) click usage errors
        if type(exc).__name__ == "NoArgsIsHelpError":
            exc.show()  # type: ignore[attr-defined]  # no arguments at all: the help, as usual
        else:
            message = getattr(exc, "format_message", exc.__str__)()
            typer.echo("FAILED: " + " ".join(str(message).split()), err=True)
        sys.exit(getattr(exc, "exit_code", 2))
    except typer.Abort:
        typer.echo("FAILED: aborted", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


# Last, because their commands use the helpers above (run, emit, fail, settings_for).
from usagebook.cli_webhooks import alerts_app, webhooks_app  # noqa: E402

app.add_typer(webhooks_app, name="webhooks")
app.add_typer(alerts_app, name="alerts")
