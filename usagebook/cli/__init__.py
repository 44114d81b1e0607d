"""The operator CLI (`usagebook`). Each command parses options, calls one domain function and
prints; a failure prints one `FAILED: ...` line on stderr and exits non-zero, never a traceback.

Commands live by group: `server` (migrate, serve, gateway, token), `accounts` (accounts,
credits, prices), `demo`, `import_export`, `keys`, `limits`, `partitions`, `webhooks`
(webhooks, alerts); what they share is in `common`, and `importer` is the resumable backfill
behind `import`. They are registered here, in the order the
help lists them.
"""

from __future__ import annotations

import sys

import typer

from usagebook.cli import import_export, server
from usagebook.cli.accounts import accounts_app, credits_app, prices_app
from usagebook.cli.demo import demo_command
from usagebook.cli.help import PlainGroup
from usagebook.cli.keys import keys_app
from usagebook.cli.limits import limits_app
from usagebook.cli.partitions import partitions_app
from usagebook.cli.webhooks import alerts_app, webhooks_app

app = typer.Typer(help="usagebook: a usage-billing ledger for AI inference APIs.",
                  no_args_is_help=True, pretty_exceptions_enable=False, cls=PlainGroup)
app.add_typer(accounts_app, name="accounts")
app.add_typer(prices_app, name="prices")
app.add_typer(credits_app, name="credits")
app.command()(server.migrate)
app.command()(server.serve)
app.command()(server.gateway)
app.command()(server.token)
app.command("demo")(demo_command)
app.command("import")(import_export.import_command)
app.command("export")(import_export.export_command)
app.add_typer(keys_app, name="keys")
app.add_typer(limits_app, name="limits")
app.add_typer(partitions_app, name="partitions")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(alerts_app, name="alerts")


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
