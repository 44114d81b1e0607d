"""The limits body as the API (and `usagebook limits set`) takes it, and the limits answer.

No web framework here: the CLI parses its options through this same function, so both name a
bad value alike."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from usagebook.errors import ProblemCollector
from usagebook.ledger.limits import INVALID_LIMITS, MAX_LIMIT, ZERO, LimitsReport
from usagebook.ledger.records import AccountLimits
from usagebook.money import NotExact, parse_decimal

WIRE_FIELDS = {"monthlyUsd": "usd", "monthlyDiem": "diem"}  # field: limit class


def limits_to_wire(report: LimitsReport) -> dict[str, object]:
    return {
        "monthlyUsd": report.limits.usd,
        "monthlyDiem": report.limits.diem,
        "currentMonthUsage": report.month_usage,
        "overspend": report.overspend,
    }


def parse_limits(body: Any) -> AccountLimits:
    """`{"monthlyUsd", "monthlyDiem"}`: decimal strings or integers from 0 to 9999999999, or
    null (no limit); an absent field is null. InvalidInput names every problem."""
    problems = ProblemCollector()
    if not isinstance(body, dict):
        problems.add("", 'the body must be a JSON object {"monthlyUsd", "monthlyDiem"}')
        problems.raise_if_any(INVALID_LIMITS)
    values: dict[str, Decimal | None] = {}
    for name in body:
        if name not in WIRE_FIELDS:
            problems.add(name, "is not a known field")
    for wire, limit_class in WIRE_FIELDS.items():
        values[limit_class] = _limit(body.get(wire), wire, problems)
    problems.raise_if_any(INVALID_LIMITS)
    return AccountLimits(values["usd"], values["diem"])


def _limit(raw: object, name: str, problems: ProblemCollector) -> Decimal | None:
    if raw is None:
        return None
    try:
        value = parse_decimal(raw)
    except NotExact as exc:
        problems.add(name, str(exc))
        return None
    if not ZERO <= value <= MAX_LIMIT:
        problems.add(name, f"must be from 0 to {MAX_LIMIT}, or null for no limit")
    return value
