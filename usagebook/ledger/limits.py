"""Account-level monthly spending limits (usagebook's own), and what the month used.

A limit caps the account's spend per UTC calendar month in a limit class (`usd`: USD and
BUNDLED_CREDITS; `diem`: DIEM); authorize refuses a hold that, with the month's spend and the
account's live holds, would pass it (`ledger.admission`). Overspend is recorded cost beyond
what holds had authorized (`ledger.settlement`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from usagebook.ledger.accounts import unknown_account
from usagebook.store import balances as balance_store
from usagebook.store import limits as store
from usagebook.store.engine import Database
from usagebook.store.limits import AccountLimits
from usagebook.timeutil import month_span, now_ms

ZERO = Decimal(0)
MAX_LIMIT = Decimal(9_999_999_999)
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
            raise unknown_account(account_id)
        spend = await store.spend_by_currency(conn, account_id, start, end)
        over_usd, over_diem = await store.read_overspend(conn, account_id, start)
    usage = {
        "usd": spend.get("USD", ZERO) + spend.get("BUNDLED_CREDITS", ZERO),
        "diem": spend.get("DIEM", ZERO),
    }
    return LimitsReport(limits, usage, {"usd": over_usd, "diem": over_diem})


async def set_limits(db: Database, account_id: str, limits: AccountLimits) -> AccountLimits:
    """Replace the account's monthly limits (under its lock, as admission reads them)."""
    async with db.write() as conn:
        await balance_store.account_allocations(conn, [account_id], lock=True)
        if not await store.set_limits(conn, account_id, limits):
            raise unknown_account(account_id)
    return limits
