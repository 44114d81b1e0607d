"""The query of GET /billing/usage, parsed as one input that reports every bad parameter at once.

FastAPI validates each parameter on its own and stops before the route runs, so a bad `limit`
would hide a `startDate` after `endDate`. The parameters therefore arrive as raw text (their
OpenAPI schemas are stated with `WithJsonSchema`, so /openapi.json still describes them exactly)
and are converted here together; the domain's own checks (ranges, date order) are merged into the
same DetailedError.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import Query
from pydantic import WithJsonSchema

from usagebook.errors import InvalidInput, ProblemCollector
from usagebook.ledger.usage import DEFAULT_LIMIT, MAX_LIMIT, UsageQuery
from usagebook.money import FILTER_CURRENCIES

SORT_ORDERS = ("asc", "desc")
_INTEGER = re.compile(r"^[+-]?[0-9]+$")
# An ISO 8601 date-time: a date, then a time (T or space), then optionally Z or an offset.
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}(:\d{2}(:\d{2}(\.\d{1,9})?)?)?"
                        r"([Zz]|[+-]\d{2}(:?\d{2})?)?$", re.ASCII)


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


def _date_time(raw: str | None, field: str, problems: ProblemCollector) -> datetime | None:
    if raw is None:
        return None
    try:
        if _DATE_TIME.match(raw):
            # fromisoformat keeps at most microseconds; nanosecond digits are cut, not rounded.
            # (RFC 3339 allows a lower-case t and z, which fromisoformat does not.)
            return datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", raw.upper()))
    except ValueError:
        pass
    problems.add(field, "must be an ISO 8601 date-time, e.g. 2026-06-15T19:05:10.504Z")
    return None


def iso_date_time_text(value: object) -> object:
    """A pydantic BeforeValidator for datetime query parameters: only ISO 8601 date-time text,
    not the epoch numbers (`0.5`) pydantic would otherwise take as a datetime."""
    if isinstance(value, str) and not _DATE_TIME.match(value):
        raise ValueError("must be an ISO 8601 date-time, e.g. 2026-06-15T19:05:10.504Z")
    return value.upper() if isinstance(value, str) else value


def usage_query(
    account_id: str, *, currency: str | None, start_date: str | None, end_date: str | None,
    limit: str | None, page: str | None, sort_order: str | None,
) -> UsageQuery:
    """The UsageQuery for these raw parameters; raises InvalidInput naming every bad one."""
    problems = ProblemCollector()
    start = _date_time(start_date, "startDate", problems)
    end = _date_time(end_date, "endDate", problems)
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
