"""An entry as the contract's wire text, written by the database: one `usage_entries` row as its
JSON object or its CSV row, as an SQL expression over the row's columns for each backend, so a
page's entries leave the database as text and no Python object is built per entry
(`store.pages`).

They restate the references in SQL, for speed, as `store.export` does for COPY:
`usagebook.api.entry_json` (the JSON object, its Decimals written by `api.exact_json`) and
`usagebook.api.entry_csv` (the CSV cells). tests/store/test_entry_text.py holds both, on both
databases, to the references' bytes for the same stored entries. What each rule becomes here:

- numbers: plain decimal text, no exponent, no trailing zeros, never `-0`, as
  `money.format_decimal`: `trim_scale(x)::text` on PostgreSQL (NUMERIC has no negative zero);
  on SQLite, where money is whole nano-units, the sign, the whole part and the nine decimals
  with their trailing zeros cut;
- timestamps: ISO 8601 UTC with milliseconds and `Z`, as `timeutil.format_ms`;
- JSON strings: `to_json(text)` (PostgreSQL) and `json_quote(text)` (SQLite) escape exactly what
  orjson escapes: `"`, `\\`, and control characters, `\\b \\t \\n \\f \\r` short, the rest as
  lowercase `\\u00xx`;
- CSV text cells: empty and null are an empty cell, a formula start gets a `'`, and a cell
  holding a comma, a quote or a line break is quoted with its quotes doubled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

# The first character's code point: = + - @ TAB CR (cheaper than comparing substrings).
_FORMULA_CODES = "(61, 43, 45, 64, 9, 13)"


@dataclass(frozen=True)
class _Dialect:
    timestamp: str
    number: Callable[[str], str]
    json_text: Callable[[str], str]  # NULL stays NULL
    needs_quotes: Callable[[str], str]
    first_code: Callable[[str], str]
    newline: str


_POSTGRESQL = _Dialect(
    timestamp=("to_char(TIMESTAMP 'epoch' + ts_ms * INTERVAL '1 millisecond', "
               "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"),
    number=lambda column: f"trim_scale({column})::text",
    json_text=lambda column: f"to_json({column})::text",
    needs_quotes=lambda column: f"{column} ~ '[,\"\\n\\r]'",
    first_code=lambda column: f"ascii({column})",
    newline="E'\\n'",
)

# SQLite's integer division truncates towards zero: the millisecond is taken floored, as
# Python's divmod does, so a stamp before 1970 is written as format_ms writes it.
_MILLIS = "(((ts_ms % 1000) + 1000) % 1000)"
_SQLITE = _Dialect(
    timestamp=(f"strftime('%Y-%m-%dT%H:%M:%S', (ts_ms - {_MILLIS}) / 1000, 'unixepoch') "
               f"|| printf('.%03dZ', {_MILLIS})"),
    number=lambda column: (
        f"(CASE WHEN {column} < 0 THEN '-' ELSE '' END || (abs({column}) / 1000000000) || "
        f"rtrim(rtrim(printf('.%09d', abs({column}) % 1000000000), '0'), '.'))"),
    json_text=lambda column: f"json_quote({column})",
    needs_quotes=lambda column: (f"(instr({column}, ',') OR instr({column}, '\"') OR "
                                 f"instr({column}, char(10)) OR instr({column}, char(13)))"),
    first_code=lambda column: f"unicode({column})",
    newline="char(10)",
)


def _json(d: _Dialect) -> str:
    def text(column: str) -> str:
        return f"coalesce({d.json_text(column)}, 'null')"

    def whole(column: str) -> str:
        return f"coalesce(CAST({column} AS TEXT), 'null')"

    return " || ".join((
        "'{\"timestamp\":\"'", d.timestamp, "'\",\"sku\":'", text("sku"),
        "',\"pricePerUnitUsd\":'", d.number("price_per_unit_usd"),
        "',\"units\":'", d.number("units"), "',\"amount\":'", d.number("amount"),
        "',\"currency\":'", text("currency"),
        "',\"notes\":'", d.json_text("coalesce(notes, '')"),
        "',\"inferenceDetails\":{\"requestId\":'", text("request_id"),
        "',\"inferenceExecutionTime\":'", whole("execution_ms"),
        "',\"promptTokens\":'", whole("prompt_tokens"),
        "',\"completionTokens\":'", whole("completion_tokens"), "'}}'",
    ))


def _csv(d: _Dialect) -> str:
    def text(column: str) -> str:
        marked = (f"CASE WHEN {d.first_code(column)} IN {_FORMULA_CODES} "
                  f"THEN '''' || {column} ELSE {column} END")
        return (f"coalesce(CASE WHEN {d.needs_quotes(column)} "
                f"THEN '\"' || replace({marked}, '\"', '\"\"') || '\"' ELSE {marked} END, '')")

    def whole(column: str) -> str:
        return f"coalesce(CAST({column} AS TEXT), '')"

    cells = (d.timestamp, text("sku"), d.number("price_per_unit_usd"), d.number("units"),
             d.number("amount"), text("currency"), text("notes"), text("request_id"),
             whole("execution_ms"), whole("prompt_tokens"), whole("completion_tokens"))
    return " || ',' || ".join(cells) + f" || {d.newline}"


class EntryText(Enum):
    """The wire text a page's entries are read as; the value is what goes between two
    entries."""

    JSON = ","  # the contract's entry object, compact, as orjson writes it
    CSV = ""  # the contract's CSV row, with its line ending

    @property
    def separator(self) -> str:
        return str(self.value)

    def sql(self, dialect: str) -> str:
        """The expression over one `usage_entries` row's columns, for `dialect` (`sqlite` or
        `postgresql`)."""
        return _EXPRESSIONS[self, dialect]


_EXPRESSIONS = {
    (text, name): build(dialect)
    for text, build in ((EntryText.JSON, _json), (EntryText.CSV, _csv))
    for name, dialect in (("postgresql", _POSTGRESQL), ("sqlite", _SQLITE))
}
