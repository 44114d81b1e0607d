"""Entries in and out: `usagebook import` (a JSON Lines backfill through the recording path)
and `usagebook export` (every entry of an account, as the contract's CSV or JSON lines)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, BinaryIO

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from usagebook.api.event_wire import WIRE_NAMES
from usagebook.api.export import export_entries
from usagebook.cli import importer
from usagebook.cli.common import DatabaseUrl, JsonFlag, emit, err, fail, run, settings_for
from usagebook.errors import InvalidInput
from usagebook.ledger import export

# ExportQuery's fields are its options, spelt alike (`--start`): every one its messages refer to.
EXPORT_OPTIONS = {name: name for name in ("format", "currency", "start", "end", "after")}


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
            db, job, progress=lambda done: bar.update(task, completed=done)),
            names=WIRE_NAMES)  # the file's lines spell events as the endpoint does
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
            last = run(settings, lambda db: export_entries(
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
        shown = exc.named(EXPORT_OPTIONS)
        fail("; ".join(f"--{field} {', '.join(problems)}"
                       for field, problems in shown.problems.items()))


@contextmanager
def _export_sink(output: Path | None, *, append: bool) -> Iterator[BinaryIO]:
    if output is None:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    with output.open("ab" if append else "wb") as sink:
        yield sink
