"""The query of GET /billing/usage, parsed as one input that reports every bad parameter at once.

FastAPI validates each parameter on its own and stops before the route runs, so a bad `limit`
would hide a `startDate` after `endDate`. The parameters therefore arrive as raw text (their
OpenAPI schemas are stated with `WithJsonSchema`, so /openapi.json still describes them exactly)
and are converted here together; the domain's own checks (ranges, date order) are merged into the
same DetailedError.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Query
from pydantic import WithJsonSchema

from usagebook.errors import InvalidInput, ProblemCollector
from usagebook.ledger.usage import DEFAULT_LIMIT, MAX_LIMIT, UsageQuery, parse_time_bound
from usagebook.money import FILTER_CURRENCIES
from usagebook.timeutil import DATE_TIME_EXPECTED, is_date_time_text

SORT_ORDERS = ("asc", "desc")
# Whole numbers as query text: a sign and ASCII digits only (no space, `_` or other scripts'
# digits, which int() would take), and few enough digits that int() stays cheap: a longer one
# is out of range (a 400), never a 500 from int()'s own limit of 4300 digits.
_WHOLE_NUMBER = re.compile(r"[+-]?([0-9]+)", re.ASCII)
_MAX_DIGITS = 9  # limit and pageSize
# Any page >= 1 is valid (one past the end is empty, as the contract says), up to this many
# digits: far beyond any ledger, and still cheap.
MAX_PAGE_DIGITS = 100
WHOLE_NUMBER_EXPECTED = "must be a whole number"
OUT_OF_RANGE = "is out of range"


def _doc(description: str) -> Any:
    # FastAPI drops a schema `default` when the Python default is None ("not sent"), so the
    # defaults are stated in the descriptions.
    return Query(description=description)


CurrencyParam = Annotated[
    str | None,
    _doc("Only entries in this currency. VCU is accepted but never stored, so it matches none."),
    WithJsonSchema({"type": "string", "enum": list(FILTER_CURRENCIES)}),
]
StartDateParam = Annotated[
    str | None,
    _doc("ISO 8601 date-time; entries at or after it."),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
EndDateParam = Annotated[
    str | None,
    _doc("ISO 8601 date-time; entries at or before it."),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
LimitParam = Annotated[
    str | None,
    _doc(f"Entries per page (default {DEFAULT_LIMIT})."),
    WithJsonSchema({"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}),
]
PageParam = Annotated[
    str | None,
    _doc("Page number, from 1 (default 1)."),
    WithJsonSchema({"type": "integer", "minimum": 1}),
]
SortOrderParam = Annotated[
    str | None,
    _doc("Order on (timestamp, entry id), default desc, the exact reverse of asc."),
    WithJsonSchema({"type": "string", "enum": list(SORT_ORDERS)}),
]

ApiKeyIdParam = Annotated[
    str | None,
    _doc("usagebook's own: only entries recorded with this API key (its id, key_...). An id "
         "that names no key of the account gives an empty page."),
    WithJsonSchema({"type": "string", "pattern": "^key_[A-Za-z0-9]{1,36}$"}),
]
ModelIdParam = Annotated[
    str | None,
    _doc("usagebook's own: only entries of this model (the catalog's model id, e.g. "
         "llama-3.3-70b, as /usage/analytics groups them; a SKU the catalog does not list is "
         "its own model). An unknown model gives an empty page."),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 200,
                    "pattern": "^[^\\x00-\\x1f\\x7f]+$"}),
]


def parse_whole_number(raw: str, max_digits: int = _MAX_DIGITS) -> int:
    """The value of a whole-number query parameter; ValueError (worded for the client) for
    anything but plain ASCII digits, and for more digits than the parameter's range allows."""
    if not (match := _WHOLE_NUMBER.fullmatch(raw)):
        raise ValueError(WHOLE_NUMBER_EXPECTED)
    if len(match[1].lstrip("0")) > max_digits:
        raise ValueError(OUT_OF_RANGE)
    return int(raw)


def whole_number_text(value: object) -> object:
    """A pydantic BeforeValidator for integer query parameters (see `parse_whole_number`)."""
    return parse_whole_number(value) if isinstance(value, str) else value


def _integer(raw: str | None, field: str, default: int, problems: ProblemCollector,
             max_digits: int = _MAX_DIGITS) -> int:
    if raw is None:
        return default
    try:
        return parse_whole_number(raw, max_digits)
    except ValueError as exc:
        problems.add(field, str(exc))
        return default


def iso_date_time_text(value: object) -> object:
    """A pydantic BeforeValidator for datetime query parameters: only ISO 8601 date-time text,
    not the epoch numbers (`0.5`) pydantic would otherwise take as a datetime."""
    if isinstance(value, str) and not is_date_time_text(value):
        raise ValueError(DATE_TIME_EXPECTED)
    return value.upper() if isinstance(value, str) else value


def usage_query(
    account_id: str, *, currency: str | None, start_date: str | None, end_date: str | None,
    limit: str | None, page: str | None, sort_order: str | None,
    api_key_id: str | None = None, model_id: str | None = None,
) -> UsageQuery:
    """The UsageQuery for these raw parameters; raises InvalidInput naming every bad one by
    its UsageQuery name (`sort_order` for the order), as `usage.USAGE_FIELDS` maps them."""
    problems = ProblemCollector()
    start = parse_time_bound(start_date, "start", problems)
    end = parse_time_bound(end_date, "end", problems)
    page_size = _integer(limit, "limit", DEFAULT_LIMIT, problems)
    page_number = _integer(page, "page", 1, problems, MAX_PAGE_DIGITS)
    if sort_order is not None and sort_order not in SORT_ORDERS:
        problems.add("sort_order", "must be asc or desc")
    query = UsageQuery(account_id, currency, start, end, page_size, page_number,
                       descending=sort_order != "asc", api_key_id=api_key_id,
                       model_id=model_id)
    try:
        query.validate()
    except InvalidInput as exc:
        for field, messages in exc.problems.items():
            for message in messages:
                problems.add(field, message)
    problems.raise_if_any()
    return query
