"""`usagebook demo`: a demo account with keys, a catalog and 90 days of usage, and the
environment that lets the CLI, curl and `usagebook serve` share it."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from sqlalchemy.engine import make_url

from usagebook.cli.common import DatabaseUrl, JsonFlag, emit, err, run, settings_for
from usagebook.ledger import demo
from usagebook.secrets_file import new_token, write_private_text


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
