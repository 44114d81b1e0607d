"""The contract's CSV cell rules, shared by every CSV usagebook writes (API pages, usage-history
pages, CLI export), so one entry gives the same bytes everywhere.

This is the reference. PostgreSQL's CSV export states the same rules in SQL, for speed
(`store.export`); tests/store/test_copy_cells.py holds every export, on both databases, to
exactly the bytes written here. So do the CSV pages of the API, whose rows both databases write
(`store.entry_text`; tests/store/test_entry_text.py).

- UTF-8, `\\n` line endings, a header row;
- null and empty text are both an unquoted empty cell;
- a cell is quoted only when it holds a comma, a quote or a line break (quotes doubled);
- a text cell starting with `=`, `+`, `-`, `@`, tab or CR gets a leading `'` so spreadsheets
  do not run it as a formula; numbers are never prefixed.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from usagebook.ledger.records import EntryRow
from usagebook.money import format_decimal
from usagebook.timeutil import format_ms

HEADER = (
    "timestamp,sku,pricePerUnitUsd,units,amount,currency,notes,"
    "inferenceDetails.requestId,inferenceDetails.inferenceExecutionTime,"
    "inferenceDetails.promptTokens,inferenceDetails.completionTokens\n"
)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NEEDS_QUOTES = (",", '"', "\n", "\r")


def text_cell(value: str | None) -> str:
    if not value:
        return ""
    if value.startswith(_FORMULA_STARTS):
        value = "'" + value
    if any(ch in value for ch in _NEEDS_QUOTES):
        return '"' + value.replace('"', '""') + '"'
    return value


def number_cell(value: Decimal | int | None) -> str:
    if value is None:
        return ""
    return format_decimal(value) if isinstance(value, Decimal) else str(value)


_PRICE_CELLS: dict[Decimal, str] = {}


def _price_cell(value: Decimal) -> str:
    # A catalog has a few hundred prices, repeated on every entry: format each once.
    cell = _PRICE_CELLS.get(value)
    if cell is None:
        cell = number_cell(value)
        if len(_PRICE_CELLS) < 4096:
            _PRICE_CELLS[value] = cell
    return cell


def entry_row(entry: EntryRow) -> str:
    return ",".join(
        (
            format_ms(entry.ts_ms),
            text_cell(entry.sku),
            _price_cell(entry.price_per_unit_usd),
            number_cell(entry.units),
            number_cell(entry.amount),
            text_cell(entry.currency),
            text_cell(entry.notes),
            text_cell(entry.request_id),
            number_cell(entry.execution_ms),
            number_cell(entry.prompt_tokens),
            number_cell(entry.completion_tokens),
        )
    ) + "\n"


def entries_csv(entries: Iterable[EntryRow], text: str | None = None) -> str:
    """The CSV of a page: its rows as the database wrote them (`EntryText.CSV`, held to
    `entry_row` by tests/store/test_entry_text.py) when `text` holds them, or else `entries`
    formatted here."""
    if text is not None:
        return HEADER + text
    return HEADER + "".join(entry_row(entry) for entry in entries)
