"""Account-level monthly spending limits (usagebook's own), and what the month used.

A limit caps the account's spend per UTC calendar month in a limit class (`usd`: USD and
BUNDLED_CREDITS; `diem`: DIEM); authorize refuses a hold that, with the month's spend and the
account's live holds, would pass it (`ledger.admission`). Overspend is recorded cost beyond
what holds had authorized (`ledger.settlement`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from usagebook.errors import NotFound, ProblemCollector
from usagebook.ledger.months import month_span
from usagebook.money import NotExact, parse_decimal
from usagebook.store import balances as balance_store
from usagebook.store import limits as store
from usagebook.store.engine import Database
from usagebook.store.limits import AccountLimits
from usagebook.timeutil import now_ms

ZERO = Decimal(0)
MAX_LIMIT = Decimal(9_999_999_999)
WIRE_FIELDS = {"monthlyUsd": "usd", "monthlyDiem": "diem"}
INVALID_LIMITS = "Invalid limits"


@dataclass(frozen=True)
class LimitsReport:
    limits: AccountLimits
    month_usage: dict[str, Decimal]  # by limit class: "usd", "diem"
    overspend: dict[str, Decimal]


async def limits_of(db: Database, account_id: str, at_ms: int | None = None) -> LimitsReport:
    """The account's limits, and its spend and overspend in the month holding `at_ms`."""
    start, end = month_span(at_ms if at_ms is not None else now_ms())
    async with db.read() as conn:
        limits = await store.read_limits(conn, account_id)
        if limits is None:
            raise NotFound(f"No account {account_id}")
        spend = await store.spend_by_currency(conn, account_id, start, end)
        over_usd, over_diem = await store.read_overspend(conn, account_id, start)
    usage = {
        "usd": spend.get("USD", ZERO) + spend.get("BUNDLED_CREDITS", ZERO),
        "diem": spend.get("DIEM", ZERO),
    }
    return LimitsReport(limits, usage, {"usd": over_usd, "diem": over_diem})


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


async def set_limits(db: Database, account_id: str, limits: AccountLimits) -> AccountLimits:
    """Replace the account's monthly limits (under its lock, as admission reads them)."""
    async with db.write() as conn:
        await balance_store.account_allocations(conn, [account_id], lock=True)
        if not await store.set_limits(conn, account_id, limits):
            raise NotFound(f"No account {account_id}")
    return limits
