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
from usagebook.store.entries import EntryRow
from usagebook.timeutil import format_ms


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return orjson.Fragment(format_decimal(value).encode())
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(content: Any) -> bytes:
    return orjson.dumps(content, default=_default)


def entry_to_wire(entry: EntryRow) -> dict[str, Any]:
    """A ledger entry in the contract's JSON shape (and nothing else)."""
    return {
        "timestamp": format_ms(entry.ts_ms),
        "sku": entry.sku,
        "pricePerUnitUsd": entry.price_per_unit_usd,
        "units": entry.units,
        "amount": entry.amount,
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
