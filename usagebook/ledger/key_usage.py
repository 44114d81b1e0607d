"""A key's spend: in its current limit window and over the trailing seven days.

Spend is positive: minus the sum of the key's entries' amounts (charges are negative), read
exactly from the day x currency x key rollup. The `usd` figure counts USD and BUNDLED_CREDITS
together (as a key's USD limit does), `diem` counts DIEM; `vcu` is always 0 (usagebook never
writes VCU). Windows are whole UTC days, ending with the current UTC day:
- EPOCH: the current UTC day; MONTH: the current UTC calendar month; LIFETIME: ever;
- trailing seven days: the current UTC day and the six before it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncConnection

from usagebook.money import Currency
from usagebook.store.engine import Database
from usagebook.store.key_spend import AmountSums, Window, amounts_in_windows
from usagebook.store.rows import KeyRow
from usagebook.timeutil import MS_PER_DAY, month_span

ZERO = Decimal(0)
# Which limit a currency's spend counts against.
LIMIT_CLASS = {Currency.USD.value: "usd", Currency.BUNDLED_CREDITS.value: "usd",
               Currency.DIEM.value: "diem"}


class LimitPeriod(StrEnum):
    EPOCH = "EPOCH"
    MONTH = "MONTH"
    LIFETIME = "LIFETIME"


@dataclass(frozen=True)
class Spend:
    usd: Decimal = ZERO
    diem: Decimal = ZERO
    vcu: Decimal = ZERO

    def of_class(self, limit_class: str) -> Decimal:
        """Spend counted by the `usd`, `diem` or `vcu` limit."""
        value: Decimal = getattr(self, limit_class)
        return value


@dataclass(frozen=True)
class KeyUsage:
    current_period: Spend
    trailing_seven_days: Spend


def period_window(period: str, now_ms: int) -> Window:
    """The limit window of `period` (a LimitPeriod value) that holds `now_ms`."""
    today = now_ms - now_ms % MS_PER_DAY
    if period == LimitPeriod.EPOCH:
        return Window(today, today + MS_PER_DAY)
    if period == LimitPeriod.MONTH:
        return Window(*month_span(now_ms))
    if period == LimitPeriod.LIFETIME:
        return Window(None, None)
    raise ValueError(f"unknown limit period {period!r}")


def seven_day_window(now_ms: int) -> Window:
    today = now_ms - now_ms % MS_PER_DAY
    return Window(today - 6 * MS_PER_DAY, today + MS_PER_DAY)


async def current_period_usage(db: Database, key: KeyRow, now_ms: int) -> Spend:
    """The key's exact spend in its limit window at `now_ms`."""
    async with db.read() as conn:
        return await current_period_usage_in(conn, key, now_ms)


async def current_period_usage_in(conn: AsyncConnection, key: KeyRow, now_ms: int) -> Spend:
    """As `current_period_usage`, inside the caller's transaction."""
    windows = {"period": period_window(key.limit_period, now_ms)}
    sums = await amounts_in_windows(conn, key.account_id, [key.id], windows)
    return _spend(sums, key.id, "period")


async def trailing_seven_days(db: Database, key: KeyRow, now_ms: int) -> Spend:
    async with db.read() as conn:
        sums = await amounts_in_windows(conn, key.account_id, [key.id],
                                        {"seven": seven_day_window(now_ms)})
    return _spend(sums, key.id, "seven")


async def usage_of_keys(
    conn: AsyncConnection, account_id: str, keys: Sequence[KeyRow], now_ms: int
) -> dict[str, KeyUsage]:
    """Both figures for each of an account's keys, in one query."""
    windows = {"seven": seven_day_window(now_ms)}
    for period in {key.limit_period for key in keys}:
        windows[period] = period_window(period, now_ms)
    sums = await amounts_in_windows(conn, account_id, [key.id for key in keys], windows)
    return {
        key.id: KeyUsage(_spend(sums, key.id, key.limit_period), _spend(sums, key.id, "seven"))
        for key in keys
    }


async def usage_of_account_keys(
    db: Database, account_id: str, keys: Sequence[KeyRow], now_ms: int
) -> dict[str, KeyUsage]:
    """`usage_of_keys`, on a read connection of its own."""
    async with db.read() as conn:
        return await usage_of_keys(conn, account_id, keys, now_ms)


def _spend(sums: AmountSums, key_id: str, window: str) -> Spend:
    totals = {"usd": ZERO, "diem": ZERO}
    for currency, limit_class in LIMIT_CLASS.items():
        totals[limit_class] -= sums.get((key_id, window, currency), ZERO)
    return Spend(usd=totals["usd"], diem=totals["diem"])


def window_end_ms(period: str, now_ms: int) -> int | None:
    """When the window holding `now_ms` ends (None for LIFETIME): when a request refused for the
    limit may be retried."""
    return period_window(period, now_ms).end_ms
