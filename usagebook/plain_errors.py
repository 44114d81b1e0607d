"""Validation errors in usagebook's own words.

pydantic describes a bad value in its own phrases (`Input should be greater than or equal to
10`, `Field required`); every answer and CLI line says it one plain way instead, after the
field it names: `pageSize: must be at least 10`. Any error type not listed here keeps
pydantic's text, lower-cased, without its `Value error, ` prefix. The field named is the
error's location written as a path, `events.3.units` (`error_path`): every validation error of
every edge is reported through these two.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from usagebook.errors import ProblemCollector

Context = Mapping[str, Any]

_TEMPLATES: dict[str, Callable[[Context], str]] = {
    "missing": lambda c: "is required",
    "extra_forbidden": lambda c: "is not a known field",
    "int_parsing": lambda c: "must be a whole number",
    "int_type": lambda c: "must be a whole number",
    "int_from_float": lambda c: "must be a whole number",
    "float_parsing": lambda c: "must be a number",
    "float_type": lambda c: "must be a number",
    "decimal_parsing": lambda c: "must be a decimal number",
    "decimal_type": lambda c: "must be a decimal number",
    "bool_parsing": lambda c: "must be true or false",
    "bool_type": lambda c: "must be true or false",
    "string_type": lambda c: "must be text",
    "list_type": lambda c: "must be a list",
    "dict_type": lambda c: "must be an object",
    "model_type": lambda c: "must be an object",
    "model_attributes_type": lambda c: "must be an object",
    "greater_than_equal": lambda c: f"must be at least {c['ge']}",
    "greater_than": lambda c: f"must be more than {c['gt']}",
    "less_than_equal": lambda c: f"must be at most {c['le']}",
    "less_than": lambda c: f"must be less than {c['lt']}",
    "string_too_short": lambda c: f"must be at least {_count(c['min_length'], 'character')}",
    "string_too_long": lambda c: f"must be at most {_count(c['max_length'], 'character')}",
    "too_short": lambda c: f"must have at least {_count(c['min_length'], 'item')}",
    "too_long": lambda c: f"must have at most {_count(c['max_length'], 'item')}",
    "string_pattern_mismatch": lambda c: f"must match {c['pattern']}",
    "enum": lambda c: f"must be {_unquoted(c['expected'])}",
    "literal_error": lambda c: f"must be {_unquoted(c['expected'])}",
    "decimal_max_places": lambda c: (
        f"must have at most {_count(c['decimal_places'], 'decimal place')}"),
    "decimal_max_digits": lambda c: f"must have at most {_count(c['max_digits'], 'digit')}",
    "datetime_parsing": lambda c: "must be an ISO 8601 date-time, e.g. 2026-06-15T19:05:10.504Z",
    "datetime_from_date_parsing": lambda c: (
        "must be an ISO 8601 date-time, e.g. 2026-06-15T19:05:10.504Z"),
    "datetime_type": lambda c: "must be an ISO 8601 date-time, e.g. 2026-06-15T19:05:10.504Z",
    "date_parsing": lambda c: "must be a date, YYYY-MM-DD",
    "date_from_datetime_parsing": lambda c: "must be a date, YYYY-MM-DD",
    "json_invalid": lambda c: "is not valid JSON",
}
_PREFIXES = re.compile(r"^(Value error|Assertion failed), ")


def plain_message(error: Mapping[str, Any]) -> str:
    """One pydantic error (an item of `ValidationError.errors()`) as a plain phrase."""
    template = _TEMPLATES.get(str(error.get("type", "")))
    if template is not None:
        try:
            return template(error.get("ctx") or {})
        except KeyError:  # a context this pydantic version does not give: its own words
            pass
    text = _PREFIXES.sub("", str(error.get("msg", "is invalid")))
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text


def error_path(loc: Sequence[object], under: str = "") -> str:
    """A pydantic error's location as a problem's path: ("events", 3, "units") ->
    "events.3.units"; below `under` when given ("events.3" and ("units",) -> "events.3.units")."""
    path = ".".join(str(part) for part in loc)
    if not under:
        return path
    return f"{under}.{path}" if path else under


def add_errors(problems: ProblemCollector, errors: Iterable[Mapping[str, Any]],
               under: str = "") -> None:
    """Add pydantic errors (`ValidationError.errors()`) to `problems`, each at its path (below
    `under`), in plain words. The paths are the model's, as the caller spelt them (its
    field names or aliases): never renamed (`usagebook.errors`)."""
    for error in errors:
        problems.add(error_path(error.get("loc", ()), under), plain_message(error), as_sent=True)


def _count(number: object, noun: str) -> str:
    return f"{number} {noun}" + ("" if str(number) == "1" else "s")


def _unquoted(expected: object) -> str:
    # pydantic writes "'asc' or 'desc'"; the values are typed without quotes.
    return str(expected).replace("'", "")
