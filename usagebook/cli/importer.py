"""Backfilling a JSON Lines file of usage events through the recording path, resumably.

Each line is one event in the endpoint's shape (`api.event_wire`, read as strict JSON); it may
also carry `currency` (history from another ledger; VCU is stored as DIEM) and any past
timestamp. Lines go in batches through `ledger.recording.record`, so each batch is all or
nothing and every event is recorded at most once.

Resuming: after each committed batch, a checkpoint file beside the input records how far the
file is done. A process killed between a commit and its checkpoint sends that batch again on the
next run, where every event answers `duplicate`: nothing is doubled. The checkpoint only saves
work; correctness comes from the ledger's unique (account, requestId, sku).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from usagebook.api.event_wire import WIRE_NAMES, parse_events
from usagebook.api.strict_json import NotStrictJson, decode_body, problem_of
from usagebook.errors import InvalidInput, ProblemCollector
from usagebook.ledger.recording import record
from usagebook.ledger.records import Database

DEFAULT_BATCH = 1000


@dataclass
class ImportReport:
    recorded: int = 0
    duplicate: int = 0
    conflict: int = 0
    lines: int = 0
    resumed_from_line: int = 0
    conflict_lines: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class ImportJob:
    """One import: the file, the account for events that name none, the batch size and where
    the checkpoint lives (default: beside the file, `<file>.checkpoint`)."""

    path: Path
    account_id: str | None = None
    batch_size: int = DEFAULT_BATCH
    checkpoint: Path | None = None

    @property
    def checkpoint_path(self) -> Path:
        return self.checkpoint or self.path.with_name(self.path.name + ".checkpoint")


async def import_file(
    db: Database, job: ImportJob, progress: Callable[[int], None] | None = None
) -> ImportReport:
    """Record every event of the file once; `progress` gets the bytes done, batch by batch
    (first call: the bytes a checkpoint let it skip). Raises InvalidInput naming bad lines."""
    if not 1 <= job.batch_size <= 1000:
        raise InvalidInput.single("batchSize", "must be between 1 and 1000")
    stat = _stat(job.path)
    offset, line_number = _resume_point(job.checkpoint_path, stat)
    report = ImportReport(resumed_from_line=line_number)
    if progress and offset:
        progress(offset)
    with job.path.open("rb") as source:
        source.seek(offset)
        batch: list[tuple[int, Any]] = []
        for raw_line in source:
            line_number += 1
            offset += len(raw_line)
            if raw_line.strip():
                batch.append((line_number, _parse_line(raw_line, line_number, job.account_id)))
            if len(batch) >= job.batch_size:
                await _commit(db, job, batch, report, (offset, line_number, stat), progress)
                batch = []
        await _commit(db, job, batch, report, (offset, line_number, stat), progress)
    report.lines = line_number
    job.checkpoint_path.unlink(missing_ok=True)
    return report


def _stat(path: Path) -> tuple[int, int]:
    try:
        found = path.stat()
    except OSError as exc:
        raise InvalidInput.single("file", f"cannot be read: {exc.strerror}") from None
    return found.st_size, found.st_mtime_ns


def _resume_point(checkpoint: Path, stat: tuple[int, int]) -> tuple[int, int]:
    """Where a previous run of this very file stopped (a changed file starts over)."""
    try:
        saved = json.loads(checkpoint.read_text())
        if [saved["size"], saved["mtimeNs"]] == list(stat):
            return int(saved["offset"]), int(saved["line"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return 0, 0


def _parse_line(raw_line: bytes, line_number: int, account_id: str | None) -> Any:
    try:
        event = decode_body(raw_line)
    except (NotStrictJson, RecursionError) as exc:
        raise InvalidInput.single(f"line {line_number}", problem_of(exc)) from None
    if isinstance(event, dict) and account_id and not ({"accountId", "apiKeyId"} & set(event)):
        event["accountId"] = account_id
    return event


async def _commit(
    db: Database,
    job: ImportJob,
    batch: list[tuple[int, Any]],
    report: ImportReport,
    point: tuple[int, int, tuple[int, int]],
    progress: Callable[[int], None] | None,
) -> None:
    offset, line_number, stat = point
    if batch:
        raw = [event for _, event in batch]
        problems = ProblemCollector()
        events = parse_events(raw, problems)
        try:
            results = await record(db, events, backfill=True, problems=problems)
        except InvalidInput as exc:
            raise _by_line(exc, [number for number, _ in batch]) from None
        for result in results:
            setattr(report, result.status, getattr(report, result.status) + 1)
            if result.status == "conflict":
                report.conflict_lines.append(batch[result.index][0])
    _save_checkpoint(job.checkpoint_path, offset, line_number, stat)
    if progress:
        progress(offset)


def _by_line(exc: InvalidInput, numbers: list[int]) -> InvalidInput:
    """Name problems by the file's line numbers instead of the batch's event indexes, and
    fields as the file's lines spell them (the endpoint's names, `WIRE_NAMES`), first: an event's
    field is known as one by the index before it."""
    problems: dict[str, list[str]] = {}
    for path, messages in exc.named(WIRE_NAMES).problems.items():
        parts = path.split(".")
        if len(parts) >= 2 and parts[0] == "events" and parts[1].isdigit():
            path = ".".join([f"line {numbers[int(parts[1])]}", *parts[2:]])
        problems.setdefault(path, []).extend(messages)
    return InvalidInput(problems, "Invalid events (this batch was not written; earlier ones were)",
                        frozenset(problems))


def _save_checkpoint(path: Path, offset: int, line: int, stat: tuple[int, int]) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(
        json.dumps({"offset": offset, "line": line, "size": stat[0], "mtimeNs": stat[1]})
    )
    os.replace(temporary, path)  # atomic: a kill leaves the old checkpoint or the new one
