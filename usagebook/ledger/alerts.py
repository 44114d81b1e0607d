"""Alert settings of an account: key thresholds (percentages of each key's limits) and balance
thresholds (account.balance.low below an amount, per currency).

Defaults: thresholds at 50, 80 and 100 percent, no balance alert. Crossings are detected in the
write path (`store.alerts`, `store.write_postgresql`), where only accounts with settings pay
anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncConnection

from usagebook.errors import ProblemCollector
from usagebook.ledger.accounts import require_account
from usagebook.money import NotExact, parse_decimal
from usagebook.store import alerts as store
from usagebook.store.balances import read_credits
from usagebook.store.engine import Database
from usagebook.timeutil import now_ms

BALANCE_CURRENCIES = ("USD", "BUNDLED_CREDITS")
MAX_THRESHOLDS = 10


@dataclass(frozen=True, slots=True)
class AlertSettings:
    key_thresholds: tuple[int, ...] = store.DEFAULT_THRESHOLDS
    balance_below: dict[str, Decimal] | None = None


def parse_settings(key_thresholds: Sequence[int] | None,
                   balance_below: Mapping[str, str] | None) -> AlertSettings:
    """Check wanted settings (None: the default; amounts as exact decimal text), reporting every
    problem at once, by domain names (`key_thresholds`, `balance_below.USD`)."""
    problems = ProblemCollector()
    thresholds: tuple[int, ...] = store.DEFAULT_THRESHOLDS
    if key_thresholds is not None:
        if len(key_thresholds) > MAX_THRESHOLDS or any(
            type(p) is not int or not 1 <= p <= 100 for p in key_thresholds
        ):
            problems.add("key_thresholds",
                         f"must list at most {MAX_THRESHOLDS} whole percentages from 1 to 100")
        else:
            thresholds = tuple(sorted(set(key_thresholds)))
    amounts: dict[str, Decimal] = {}
    for currency, raw in (balance_below or {}).items():
        field = f"balance_below.{currency}"
        if currency not in BALANCE_CURRENCIES:
            problems.add(field, f"currency must be one of {', '.join(BALANCE_CURRENCIES)}")
            continue
        try:
            amount = parse_decimal(raw)
        except NotExact as exc:
            problems.add(field, str(exc))
            continue
        if not 0 < amount <= store.MAX_THRESHOLD:
            problems.add(field, f"must be above 0 and at most {store.MAX_THRESHOLD}")
        amounts[currency] = amount
    problems.raise_if_any()
    return AlertSettings(thresholds, amounts)


async def put_settings(db: Database, account_id: str, settings: AlertSettings) -> AlertSettings:
    async with db.write() as conn:
        await require_account(conn, account_id)
        await store.write_settings(conn, account_id, settings.key_thresholds,
                                   settings.balance_below or {}, now_ms())
        return await _read(conn, account_id)


async def get_settings(db: Database, account_id: str) -> AlertSettings:
    async with db.read() as conn:
        return await _read(conn, account_id)


async def _read(conn: AsyncConnection, account_id: str) -> AlertSettings:
    thresholds, balance_below = await store.read_settings(conn, account_id)
    return AlertSettings(thresholds, balance_below)


async def rearm_after_grant(conn: AsyncConnection, account_id: str, currency: str) -> None:
    """In a grant's transaction: a balance lifted to or above a threshold arms it again."""
    credits = await read_credits(conn, [account_id])
    if (row := credits.get((account_id, currency))) is not None:
        await store.rearm_balance(conn, account_id, currency, row.balance)
