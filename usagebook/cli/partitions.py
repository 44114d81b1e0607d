"""`usagebook partitions ...`: the ledger's monthly partitions on PostgreSQL, and archiving
old months to files (`ledger.partitions`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from usagebook.cli.common import DatabaseUrl, JsonFlag, emit, run, settings_for
from usagebook.cli.help import PlainGroup
from usagebook.ledger import partitions

partitions_app = typer.Typer(help="The ledger's monthly partitions (PostgreSQL).",
                             no_args_is_help=True, cls=PlainGroup)


@partitions_app.command("list")
def partitions_list(database_url: DatabaseUrl = None, as_json: JsonFlag = False) -> None:
    """List the ledger's partitions: month, estimated rows, size on disk."""
    found = run(settings_for(database_url), partitions.list_partitions)
    listed = [{"partition": p.name, "month": str(p.month) if p.month else None,
               "estimatedRows": max(p.rows, 0), "bytes": p.bytes} for p in found]
    emit(as_json, {"partitions": listed},
         "\n".join(f"{p['partition']:<32} {p['month'] or 'other months':<13} "
                   f"~{p['estimatedRows']:>12,} rows {p['bytes']:>15,} bytes" for p in listed))


@partitions_app.command("archive")
def partitions_archive(
    before: Annotated[str, typer.Option(
        help="Archive every month before this one (YYYY-MM, UTC; at most the current month).")],
    to: Annotated[Path, typer.Option(help="An existing directory for the CSV files.")],
    database_url: DatabaseUrl = None,
    as_json: JsonFlag = False,
) -> None:
    """Write each month before --before to a CSV file named after its partition in the --to
    directory (every column, exact money), then remove it from the ledger. Balances, analytics
    and idempotency keys stay: a repeat of an archived event is still a duplicate."""
    done = run(settings_for(database_url),
               lambda db: partitions.archive_before(db, before, to))
    listed = [{"partition": a.partition, "file": str(a.path), "rows": a.rows} for a in done]
    emit(as_json, {"archived": listed},
         "\n".join(f"archived {a['partition']}: {a['rows']:,} rows to {a['file']}"
                   for a in listed) or f"nothing to archive before {before}")
