"""Request bodies and imported lines as strict JSON, every number exact (a float would turn 0.1
into 0.1000000000000000055...). One rule for every JSON body usagebook reads: the HTTP routes
(`api.body.read_json`) and `usagebook import` (each line of its file)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any


class NotStrictJson(ValueError):
    """A body that is not strict JSON; the message names the problem, for the client."""


def decode_body(body: bytes) -> Any:
    """The body as strict JSON with every number exact (floats become Decimals).

    Strict: UTF-8 only (json.loads would also guess UTF-16 and UTF-32 from bytes), no key twice
    in one object (which value would win is a parser's whim, and a client's mistake), no NaN
    or Infinity (not JSON). Raises NotStrictJson, or RecursionError for absurd nesting.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotStrictJson(f"is not UTF-8 (invalid byte at offset {exc.start})") from None
    try:
        return json.loads(text, parse_float=Decimal, parse_constant=_no_constant,
                          object_pairs_hook=_unique_keys)
    except NotStrictJson:
        raise
    except ValueError as exc:  # JSONDecodeError, or an integer of thousands of digits
        raise NotStrictJson(f"is not valid JSON ({exc})") from None


def problem_of(exc: NotStrictJson | RecursionError) -> str:
    """What is wrong with a body `decode_body` refused, after "the request body" or "line 7"."""
    return str(exc) if isinstance(exc, NotStrictJson) else "nests too deep"


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        keys = [key for key, _ in pairs]
        twice = next(key for index, key in enumerate(keys) if key in keys[:index])
        raise NotStrictJson(f"has the key {json.dumps(twice)} twice in one object")
    return found


def _no_constant(name: str) -> Any:
    raise NotStrictJson(f"holds {name}, which is not a JSON number")
