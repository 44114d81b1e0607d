"""A ledger entry in the contract's JSON shape, one shape everywhere: API pages, usage-history
pages, recording answers and the CLI's JSON-lines export.

This is the reference. The usual API pages have their entries written by the database instead
(`store.entry_text` restates this shape in SQL, for speed); tests/store/test_entry_text.py holds
those pages, on both databases, to exactly the bytes written here."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson

from usagebook.api.exact_json import exact
from usagebook.ledger.records import EntryFields, EntryRow
from usagebook.timeutil import format_ms

_PRICE_TEXT: dict[Decimal, orjson.Fragment] = {}


def _price(value: Decimal) -> orjson.Fragment:
    # A catalog has a few hundred prices, repeated on every entry: format each once.
    text = _PRICE_TEXT.get(value)
    if text is None:
        text = exact(value)
        if len(_PRICE_TEXT) < 4096:
            _PRICE_TEXT[value] = text
    return text


def entries_json(entries: list[EntryRow], text: str | None) -> Any:
    """A page's entries as the JSON array of their wire objects: `text` as the database wrote
    them (`EntryText.JSON`, held to `entry_to_wire` by tests/store/test_entry_text.py), or else
    `entries` formatted here."""
    if text is not None:
        return orjson.Fragment("[" + text + "]")
    return [entry_to_wire(entry) for entry in entries]


def entry_to_wire(entry: EntryFields) -> dict[str, Any]:
    """A ledger entry in the contract's JSON shape (and nothing else)."""
    return {
        "timestamp": format_ms(entry.ts_ms),
        "sku": entry.sku,
        "pricePerUnitUsd": _price(entry.price_per_unit_usd),
        "units": exact(entry.units),
        "amount": exact(entry.amount),
        "currency": entry.currency,
        # Venice's schema makes notes a non-null string; none stored is written as empty text,
        # as in CSV, where null and empty are the same empty cell.
        "notes": entry.notes or "",
        "inferenceDetails": {
            "requestId": entry.request_id,
            "inferenceExecutionTime": entry.execution_ms,
            "promptTokens": entry.prompt_tokens,
            "completionTokens": entry.completion_tokens,
        },
    }
