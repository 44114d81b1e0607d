"""The checks on what a query narrows entries by: a currency, a key, a model, a SKU and a time
range. Each rule is stated here once; a query (`usage`, `history`, `export`, the analytics)
picks the rules its endpoint states and names its own fields (`usagebook.errors`).

A well-formed value that names nothing matches nothing (an empty answer); only a value that
could never name anything is a problem.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from typing import TypeVar

from usagebook.errors import ProblemCollector
from usagebook.ledger.keys import KEY_ID

Bound = TypeVar("Bound", int, date, datetime)
_MODEL_ID = re.compile(r"[^\x00-\x1f\x7f]{1,200}")


def check_currency(problems: ProblemCollector, currency: str | None, allowed: Sequence[str],
                   field: str = "currency") -> None:
    if currency is not None and currency not in allowed:
        problems.add(field, f"must be one of {', '.join(allowed)}")


def check_key_id(problems: ProblemCollector, key_id: str | None, field: str) -> None:
    """An API key id's exact shape (`ledger.keys.KEY_ID`)."""
    if key_id is not None and not KEY_ID.fullmatch(key_id):
        problems.add(field, "must be an API key id (key_ and up to 36 letters or digits)")


def check_model_id(problems: ProblemCollector, model_id: str | None, field: str) -> None:
    """A catalog model id: 1 to 200 characters, none of them a control character."""
    if model_id is not None and not _MODEL_ID.fullmatch(model_id):
        problems.add(field, "must be a model id (1 to 200 characters, no control characters)")


def check_name(problems: ProblemCollector, value: str | None, field: str, longest: int) -> None:
    """Any name of 1 to `longest` characters without NUL (which PostgreSQL cannot compare)."""
    if value is not None and not (0 < len(value) <= longest and "\x00" not in value):
        problems.add(field, f"must be 1 to {longest} characters")


def check_order(problems: ProblemCollector, first: Bound | None, last: Bound | None,
                start: str, end: str) -> bool:
    """An inclusive range's start is not after its end (either may be absent); False with a
    problem on `start` otherwise. Both bounds are of one kind: dates, epoch milliseconds, or
    datetimes that are both aware or both naive."""
    if first is not None and last is not None and first > last:
        problems.add(start, f"must not be after {{{end}}}")
        return False
    return True
