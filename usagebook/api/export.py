"""The operator's export in the contract's formats: CSV rows byte-for-byte the API's
(`api.entry_csv`), or JSON lines, each `entry_json.entry_to_wire` of the entry plus its `"tags"`
(an object, empty for none), which the Venice-shaped API answers never show.

What is exported, in which order and how it resumes is `ledger.export`'s; this module only
names the bytes.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson

from usagebook.api.entry_csv import HEADER, entry_row
from usagebook.api.entry_json import entry_to_wire
from usagebook.api.exact_json import dumps
from usagebook.ledger import export
from usagebook.ledger.export import COPY_CONNECTIONS, Exported, ExportQuery, Sink
from usagebook.ledger.records import Database, EntryRow

__all__ = ["COPY_CONNECTIONS", "ExportQuery", "Exported", "export_entries"]


def _csv(rows: list[EntryRow]) -> bytes:
    return "".join(entry_row(row) for row in rows).encode()


def _json_lines(rows: list[EntryRow]) -> bytes:
    return b"".join(dumps(_with_tags(row)) + b"\n" for row in rows)


def _with_tags(row: EntryRow) -> dict[str, object]:
    return {**entry_to_wire(row), "tags": orjson.loads(row.tags) if row.tags else {}}


FORMATS = {
    "csv": export.EntryFormat(HEADER.encode(), _csv, database_csv=True),
    "jsonl": export.EntryFormat(b"", _json_lines),
}


async def export_entries(
    db: Database, query: ExportQuery, out: Sink,
    on_batch: Callable[[Exported], None] | None = None, batch_size: int | None = None,
    connections: int = COPY_CONNECTIONS,
) -> Exported:
    """`ledger.export.export_entries` in the query's format (an unknown one is the ledger's
    InvalidInput, naming `format`, like every other bad field)."""
    return await export.export_entries(
        db, query, out, FORMATS.get(query.format, FORMATS["csv"]), on_batch, batch_size,
        connections)
