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
_INTEGER = re.compile(r"^[+-]?[0-9]+$")


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


def _integer(raw: str | None, field: str, default: int, problems: ProblemCollector) -> int:
    if raw is None:
        return default
    if not _INTEGER.match(raw):
        problems.add(field, "must be a whole number")
        return default
    return int(raw)


def iso_date_time_text(value: object) -> object:
    """A pydantic BeforeValidator for datetime query parameters: only ISO 8601 date-time text,
    not the epoch numbers (`0.5`) pydantic would otherwise take as a datetime."""
    if isinstance(value, str) and not is_date_time_text(value):
        raise ValueError(DATE_TIME_EXPECTED)
    return value.upper() if isinstance(value, str) else value


def usage_query(
    account_id: str, *, currency: str | None, start_date: str | None, end_date: str | None,
    limit: str | None, page: str | None, sort_order: str | None,
) -> UsageQuery:
    """The UsageQuery for these raw parameters; raises InvalidInput naming every bad one."""
    problems = ProblemCollector()
    start = parse_time_bound(start_date, "startDate", problems)
    end = parse_time_bound(end_date, "endDate", problems)
    page_size = _integer(limit, "limit", DEFAULT_LIMIT, problems)
    page_number = _integer(page, "page", 1, problems)
    if sort_order is not None and sort_order not in SORT_ORDERS:
        problems.add("sortOrder", "must be asc or desc")
    query = UsageQuery(account_id, currency, start, end, page_size, page_number,
                       descending=sort_order != "asc")
    try:
        query.validate()
    except InvalidInput as exc:
        for field, messages in exc.problems.items():
            for message in messages:
                problems.add(field, message)
    problems.raise_if_any()
    return query
