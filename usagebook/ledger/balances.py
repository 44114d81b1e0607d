"""Balances: credit grants, the daily DIEM allocation, the consumption order, and audits.

Invariants (checked by `audit`, kept by the store's balance projection):
- for USD and BUNDLED_CREDITS: balance = grants - the exact sum of the currency's charges;
- for DIEM, per UTC day: left = allocation - the exact sum of that day's DIEM charges.

Consumption order: DIEM (today's allocation, for an entry: its own UTC day's), then
BUNDLED_CREDITS, then USD. A charge goes whole to the first currency whose balance is above zero
and may take it below zero; when none is above zero it goes to USD. Recording never refuses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncConnection

from usagebook.errors import ProblemCollector
from usagebook.ledger.accounts import unknown_account
from usagebook.ledger.alerts import rearm_after_grant
from usagebook.money import Currency, NotExact, parse_decimal
from usagebook.store import accounts as account_store
from usagebook.store import balances as store
from usagebook.store.balances import CreditRow, GrantRow
from usagebook.store.engine import Database
from usagebook.timeutil import MS_PER_DAY, now_ms

ZERO = Decimal(0)
USD, DIEM, BUNDLED = Currency.USD.value, Currency.DIEM.value, Currency.BUNDLED_CREDITS.value
GRANTABLE = (USD, BUNDLED)


@dataclass
class Consumption:
    """What is left to spend for a set of locked accounts, moved charge by charge in the order
    the charges are decided, so that each one sees every charge before it."""

    allocations: dict[str, Decimal | None]
    credits: dict[tuple[str, str], Decimal] = field(default_factory=dict)
    diem_used: dict[tuple[str, int], Decimal] = field(default_factory=dict)

    def diem_left(self, account_id: str, day: int) -> Decimal | None:
        allocation = self.allocations.get(account_id)
        if allocation is None:
            return None
        return allocation - self.diem_used.get((account_id, day), ZERO)

    def credit_left(self, account_id: str, currency: str) -> Decimal:
        return self.credits.get((account_id, currency), ZERO)

    def next_currency(self, account_id: str, day: int) -> str | None:
        """The currency a charge on `day` would use, or None when no balance is above zero.
        (Asked once per recorded event: the lookups are written out, not through diem_left
        and credit_left.)"""
        allocation = self.allocations.get(account_id)
        if allocation is not None and allocation > self.diem_used.get((account_id, day), ZERO):
            return DIEM
        for currency in (BUNDLED, USD):
            if self.credits.get((account_id, currency), ZERO) > 0:
                return currency
        return None

    def charge(
        self, account_id: str, ts_ms: int, amount: Decimal, currency: str | None = None
    ) -> str:
        """Decide (unless given) the currency of an entry with this (negative) amount, and
        count it. Returns the currency."""
        day = ts_ms // MS_PER_DAY
        if currency is None:
            currency = self.next_currency(account_id, day) or USD
        if currency == DIEM:
            key = (account_id, day)
            self.diem_used[key] = self.diem_used.get(key, ZERO) - amount
        else:
            key2 = (account_id, currency)
            self.credits[key2] = self.credits.get(key2, ZERO) + amount
        return currency


async def load_consumption(
    conn: AsyncConnection, allocations: dict[str, Decimal | None], days: set[tuple[str, int]]
) -> Consumption:
    """Balances of already-locked accounts, and DIEM used on the given (account, day)s."""
    credits = await store.read_credits(conn, allocations)
    used = await store.read_diem_consumed(
        conn, [key for key in days if allocations.get(key[0]) is not None]
    )
    return Consumption(allocations, {key: row.balance for key, row in credits.items()}, used)


@dataclass(frozen=True)
class BalanceView:
    """An account's balances now: today's DIEM left (None without an allocation)."""

    account_id: str
    diem_allocation: Decimal | None
    diem_left: Decimal | None
    credits: dict[str, Decimal]
    consumption_currency: str | None
    grants: list[GrantRow]


async def balance_of(
    db: Database, account_id: str, at_ms: int | None = None, *, with_grants: bool = False
) -> BalanceView:
    """Balances at `at_ms` (default now); `with_grants` also lists the grants, newest first."""
    today = (at_ms if at_ms is not None else now_ms()) // MS_PER_DAY
    if not with_grants:
        return await _balance_now(db, account_id, today)
    async with db.read() as conn:
        allocations = await store.account_allocations(conn, [account_id], lock=False)
        if account_id not in allocations:
            raise unknown_account(account_id)
        state = await load_consumption(conn, allocations, {(account_id, today)})
        grants = await store.list_grants(conn, account_id) if with_grants else []
    return BalanceView(
        account_id=account_id,
        diem_allocation=allocations[account_id],
        diem_left=state.diem_left(account_id, today),
        credits={c: state.credit_left(account_id, c) for c in GRANTABLE},
        consumption_currency=state.next_currency(account_id, today),
        grants=grants,
    )


async def _balance_now(db: Database, account_id: str, today: int) -> BalanceView:
    """`balance_of` without grants, in one statement (the hot path of /billing/balance)."""
    found = await db.retrying(lambda d: store.read_balance(d, account_id, today))
    if found is None:
        raise unknown_account(account_id)
    state = Consumption(
        {account_id: found.diem_allocation},
        {(account_id, currency): row.balance for currency, row in found.credits.items()},
        {(account_id, today): found.diem_consumed},
    )
    return BalanceView(
        account_id=account_id,
        diem_allocation=found.diem_allocation,
        diem_left=state.diem_left(account_id, today),
        credits={c: state.credit_left(account_id, c) for c in GRANTABLE},
        consumption_currency=state.next_currency(account_id, today),
        grants=[],
    )


def _amount(raw: object, name: str, problems: ProblemCollector, *, nonzero: bool) -> Decimal:
    try:
        value = parse_decimal(raw)
    except NotExact as exc:
        problems.add(name, str(exc))
        return ZERO
    if (nonzero and value == 0) or (not nonzero and value < 0):
        problems.add(name, "must not be zero" if nonzero else "must not be negative")
    return value


async def grant_credit(
    db: Database, account_id: str, currency: str, amount: object, notes: str | None = None
) -> GrantRow:
    """Add credit (or, negative, an adjustment) in USD or BUNDLED_CREDITS, with a note."""
    problems = ProblemCollector()
    if currency not in GRANTABLE:
        problems.add("currency", f"must be one of {', '.join(GRANTABLE)}")
    value = _amount(amount, "amount", problems, nonzero=True)
    problems.raise_if_any()
    grant = GrantRow(account_id, currency, value, notes, now_ms())
    async with db.write() as conn:
        if not await store.account_allocations(conn, [account_id], lock=True):
            raise unknown_account(account_id)
        await store.add_grant(conn, grant)
        await rearm_after_grant(conn, account_id, currency)
    return grant


async def set_diem_allocation(
    db: Database, account_id: str, allocation: object | None
) -> Decimal | None:
    """Set the DIEM allocation every UTC day starts with (None: the account has none)."""
    problems = ProblemCollector()
    value = (
        None if allocation is None else _amount(allocation, "allocation", problems, nonzero=False)
    )
    problems.raise_if_any()
    async with db.write() as conn:
        await store.account_allocations(conn, [account_id], lock=True)
        if not await account_store.set_diem_allocation(conn, account_id, value):
            raise unknown_account(account_id)
    return value


@dataclass(frozen=True)
class AuditResult:
    """Figures the projection holds that disagree with the ledger (empty when all agree)."""

    mismatches: list[str]


async def audit(db: Database, account_id: str) -> AuditResult:
    """Recompute every balance from grants and entries and compare with the projection."""
    async with db.read() as conn:
        grants = await store.sum_grants(conn, account_id)
        charges = await store.sum_charges(conn, account_id)
        credits = await store.read_credits(conn, [account_id])
        diem_by_day = await store.sum_diem_by_day(conn, account_id)
        diem_rows = await store.diem_days_of(conn, account_id)
    mismatches = []
    for currency in GRANTABLE:
        row = credits.get((account_id, currency), CreditRow(ZERO, ZERO))
        expected = grants.get(currency, ZERO) - charges.get(currency, ZERO)
        if row.balance != expected:
            mismatches.append(f"{currency}: projection {row.balance}, ledger {expected}")
    for day in sorted(set(diem_by_day) | set(diem_rows)):
        if diem_by_day.get(day, ZERO) != diem_rows.get(day, ZERO):
            mismatches.append(
                f"DIEM day {day}: projection {diem_rows.get(day)}, ledger {diem_by_day.get(day)}"
            )
    return AuditResult(mismatches)
