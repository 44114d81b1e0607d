"""Running usagebook: `migrate`, `serve`, `gateway` and `token`."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from usagebook.cli.common import (
    DatabaseUrl,
    fail,
    migrate_or_fail,
    require_free_port,
    schema_or_fail,
    settings_for,
)
from usagebook.secrets_file import new_token
from usagebook.settings import SettingsError


def migrate(database_url: DatabaseUrl = None) -> None:
    """Create or upgrade the database schema."""
    migrate_or_fail(settings_for(database_url, existing=False))
    typer.echo("Database schema is up to date.")


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
    require_free_port(host, port)
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
    require_free_port(host, port)
    configure_logging()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per upstream/ledger call
    uvicorn.run(create_gateway_app(config), host=host, port=port, log_config=None,
                access_log=False)


def token() -> None:
    """Print a fresh strong secret, for USAGEBOOK_OPERATOR_TOKEN or USAGEBOOK_SECRET_KEY."""
    typer.echo(new_token())


