"""Exact JSON for ledger entries, shared by the HTTP layer (`usagebook.api.wire` re-exports it)
and the CLI export, so an entry has one JSON shape everywhere.

pydantic and the standard json module would write a Decimal as a string or through a float;
orjson's Fragment lets each Decimal be written as its own exact text instead.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson

from usagebook.money import format_decimal
from usagebook.store.rows import EntryFields
from usagebook.timeutil import format_ms


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return exact(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def exact(value: Decimal) -> orjson.Fragment:
    """A Decimal as an exact JSON number."""
    return orjson.Fragment(format_decimal(value).encode())


_PRICE_TEXT: dict[Decimal, orjson.Fragment] = {}


def _price(value: Decimal) -> orjson.Fragment:
    # A catalog has a few hundred prices, repeated on every entry: format each once.
    text = _PRICE_TEXT.get(value)
    if text is None:
        text = exact(value)
        if len(_PRICE_TEXT) < 4096:
            _PRICE_TEXT[value] = text
    return text


def dumps(content: Any) -> bytes:
    return orjson.dumps(content, default=_default)


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
