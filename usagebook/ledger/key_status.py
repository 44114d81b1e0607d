"""What a key may do right now (`GET /api_keys/rate_limits`), and the log of its account's
rate-limit refusals (`GET /api_keys/rate_limits/log`).

A key's access is permitted when it is active, its account can consume (some balance is above
zero), and the key's limit for the currency its next charge would use is not reached: remaining
= limit - spend in the window - the key's live holds (as authorize counts it), and remaining <= 0
refuses (so a 0 limit always does).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal

from usagebook.errors import NotFound
from usagebook.ledger.balances import DIEM, USD, balance_of
from usagebook.ledger.key_usage import LIMIT_CLASS, current_period_usage_in
from usagebook.ledger.keys import Caller, is_active
from usagebook.store import holds as hold_store
from usagebook.store import keys as key_store
from usagebook.store import ratelimit_log as log_store
from usagebook.store.engine import Database
from usagebook.store.ratelimit_log import Refusal
from usagebook.store.rows import KeyRow
from usagebook.timeutil import MS_PER_DAY

log = logging.getLogger("usagebook.ratelimit")
RATE_LIMIT_TIER = "paid"  # every usagebook key pays per use
ANY_MODEL = "*"


@dataclass(frozen=True)
class KeyStatus:
    key: KeyRow
    access_permitted: bool
    balances: dict[str, Decimal]  # USD and DIEM left (DIEM 0 without an allocation)
    next_epoch_ms: int


async def key_status(db: Database, key_id: str, at_ms: int) -> KeyStatus:
    async with db.read() as conn:
        key = await key_store.find_by_id(conn, key_id)
    if key is None:
        raise NotFound(f"No key {key_id}")
    view = await balance_of(db, key.account_id, at_ms)
    permitted = is_active(key, at_ms) and view.consumption_currency is not None
    if permitted and view.consumption_currency is not None:
        permitted = await limit_left(db, key, view.consumption_currency, at_ms) != Decimal(0)
    return KeyStatus(
        key=key,
        access_permitted=permitted,
        balances={USD: view.credits[USD], DIEM: view.diem_left or Decimal(0)},
        next_epoch_ms=at_ms - at_ms % MS_PER_DAY + MS_PER_DAY,
    )


async def limit_left(db: Database, key: KeyRow, currency: str, at_ms: int) -> Decimal | None:
    """What the key may still spend in `currency`'s limit class in its window: None without a
    limit, else max(0, limit - spend - the key's live holds in that class), as authorize
    counts it."""
    limit_class = LIMIT_CLASS[currency]
    limit: Decimal | None = getattr(key, f"limit_{limit_class}")
    if limit is None:
        return None
    async with db.read() as conn:
        spent = (await current_period_usage_in(conn, key, at_ms)).of_class(limit_class)
        held = (await hold_store.live_holds(conn, key.account_id, key.id, at_ms)).key
    held_in_class = sum((amount for cur, amount in held.items()
                         if LIMIT_CLASS[cur] == limit_class), Decimal(0))
    return max(Decimal(0), limit - spent - held_in_class)


class RefusalLog:
    """Logs refusals by the per-key rate limit, at most one per key per second (a client that
    keeps calling after its 429 must not turn every refused request into a database write)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._last_second: dict[str, int] = {}

    async def note(self, caller: Caller, at_ms: int, model_id: str = ANY_MODEL) -> None:
        second = at_ms // 1000
        if self._last_second.get(caller.key_id) == second:
            return
        if len(self._last_second) > 10_000:
            self._last_second.clear()
        self._last_second[caller.key_id] = second
        refusal = Refusal(caller.key_id, model_id, RATE_LIMIT_TIER, "RPM", at_ms)
        # The refusal itself (a 429) must not become a database error.
        failure = await log_store.try_log_refusal(self._db, caller.account_id, refusal)
        if failure is not None:
            log.warning("rate-limit refusal not logged: %s", failure)


async def newest_refusals(db: Database, account_id: str) -> list[Refusal]:
    async with db.read() as conn:
        return await log_store.newest_refusals(conn, account_id)
