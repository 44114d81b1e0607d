"""What an authorize transaction locks and reads, and the interface both databases' transactions
implement (`store.admission` for SQLite, `store.admission_pg` for PostgreSQL): a module of its
own so that the two implementations and the dispatch between them import it, not each other.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from usagebook.store.holds import HoldRow, LiveHolds
from usagebook.store.limits import AccountLimits

ZERO = Decimal(0)
Span = tuple[int | None, int | None]  # [start, end) in epoch ms; None = open


@dataclass(frozen=True, slots=True)
class LockedKey:
    """A key and its account as they are once the account's lock is held."""

    key_id: str
    account_id: str
    key_type: str
    revoked_ms: int | None
    expires_ms: int | None
    limit_usd: Decimal | None
    limit_diem: Decimal | None
    limit_period: str
    diem_allocation: Decimal | None
    monthly: AccountLimits


@dataclass(frozen=True, slots=True)
class StateQuery:
    account_id: str
    key_id: str
    now_ms: int
    day: int  # today's UTC day number (DIEM used today)
    key_window: Span | None  # the key's limit window, when it has a limit
    month: Span | None  # the current month, when the account has a monthly limit
    request_id: str | None
    skus: tuple[str, ...]


@dataclass
class AdmissionState:
    """Per currency: balances (USD, BUNDLED_CREDITS), DIEM used today, live holds, the key's
    spend in its window and the account's in the month (positive); the prices of the SKUs
    asked for; the hold already granted for the request id."""

    credits: dict[str, Decimal] = field(default_factory=dict)
    diem_used: Decimal = ZERO
    holds: LiveHolds = field(default_factory=lambda: LiveHolds({}, {}))
    key_spend: dict[str, Decimal] = field(default_factory=dict)
    month_spend: dict[str, Decimal] = field(default_factory=dict)
    prices: dict[str, Decimal] = field(default_factory=dict)  # per unit, of the SKUs asked for
    earlier: HoldRow | None = None


class AdmissionTransaction(Protocol):
    """One authorize transaction: `lock_key` first, then reads, then at most one insert."""

    async def lock_key(
        self, *, key_id: str | None = None, secret_hash: str | None = None
    ) -> LockedKey | None: ...

    async def read_state(self, q: StateQuery) -> AdmissionState: ...

    async def prices(self, skus: Iterable[str]) -> dict[str, Decimal]: ...

    async def insert_hold(self, hold: HoldRow) -> None: ...
