"""Exact JSON: every Decimal written as its own exact text, and the response class that writes
every answer so.

pydantic and the standard json module would write a Decimal as a string or through a float;
orjson's Fragment lets each Decimal be written as its own exact text instead.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from starlette.responses import JSONResponse

from usagebook.money import format_decimal


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return exact(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def exact(value: Decimal) -> orjson.Fragment:
    """A Decimal as an exact JSON number."""
    return orjson.Fragment(format_decimal(value).encode())


def dumps(content: Any) -> bytes:
    return orjson.dumps(content, default=_default)


class ExactJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return dumps(content)
