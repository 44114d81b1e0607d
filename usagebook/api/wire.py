"""Converters to the wire, and a JSON response that writes Decimals as exact JSON numbers.

The entry shape and the exact-Decimal encoder live in `usagebook.jsonformat` (shared with the CLI
export) and are re-exported here.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

from usagebook.jsonformat import dumps, entry_to_wire

__all__ = ["ExactJSONResponse", "dumps", "entry_to_wire"]


class ExactJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return dumps(content)
