"""Admission: POST /usage/authorize grants a hold on an estimate's cost, or refuses it (402).

Guarantees, for any number of concurrent calls on any number of processes:
- a hold is granted only when, with it, the key's spend in its limit window plus the key's live
  holds stay within the key's limit for the hold's class (`usd`: USD and BUNDLED_CREDITS,
  `diem`: DIEM), the account's month spend plus its live holds within its monthly limit, and
  the currency's balance minus the account's live holds covers it. The decision is made under
  the account's lock (`store.admission.lock_key`), the lock recording also takes, with
  every figure read after the lock is granted, and the hold is inserted before it is released:
  no two grants can both count on the same room;
- spend and balances come from the ledger's projections (kept in the transaction that stores
  the entries), holds from their rows, the key's state from its row: nothing is cached;
- a request_id makes a call idempotent per key: the same estimate gets the original hold back
  (settled or expired included), another estimate a Conflict.
Recording settles holds (`ledger.recording`); the only spend beyond a limit is recorded cost
above what holds authorized, which is counted as overspend.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from usagebook.errors import (
    Conflict,
    InvalidInput,
    NotAuthenticated,
    PaymentRequired,
    ProblemCollector,
    RateLimited,
)
from usagebook.ledger.balances import BUNDLED, DIEM, USD
from usagebook.ledger.estimates import INVALID_BODY, AuthorizeRequest, price_estimate
from usagebook.ledger.ids import new_id
from usagebook.ledger.key_status import RefusalLog
from usagebook.ledger.key_usage import LIMIT_CLASS, period_window, window_end_ms
from usagebook.ledger.keys import Caller, KeyType, hash_secret
from usagebook.ledger.ratelimit import RateLimiter
from usagebook.store import admission as store
from usagebook.store.admission_state import (
    AdmissionState,
    AdmissionTransaction,
    LockedKey,
    StateQuery,
)
from usagebook.store.engine import Database
from usagebook.store.holds import HoldRow
from usagebook.timeutil import MS_PER_DAY, month_span, now_ms

ZERO = Decimal(0)
ORDER = (DIEM, BUNDLED, USD)  # the consumption order
CLASS_OF = LIMIT_CLASS  # which limit a currency counts against: usd (USD, BUNDLED) or diem
INVALID_API_KEY = "Invalid API key"
INSUFFICIENT_BALANCE = "Insufficient balance"


def key_limit_text(limit_class: str) -> str:
    """Venice's words for a key whose limit is reached."""
    c = limit_class.upper()
    return (f"API key {c} spend limit exceeded. Your account may still have {c} balance, but "
            f"this API key has reached its configured {c} spending limit.")


def account_limit_text(limit_class: str) -> str:
    return f"Account monthly {limit_class.upper()} spend limit exceeded."


@dataclass(frozen=True)
class Grant:
    hold: HoldRow
    by_secret: bool  # the caller named the key by its secret: the answer names key and account


class Room(NamedTuple):
    """What is left, read under the account's lock. None: no limit (or, for DIEM's balance,
    no allocation)."""

    available: dict[str, Decimal | None]  # per currency: balance minus the account's live holds
    key: dict[str, Decimal | None]  # per class: key limit - spend in window - key's live holds
    account: dict[str, Decimal | None]  # per class: monthly limit - month spend - live holds


class Refusal(NamedTuple):
    reason: str  # "balance", "key" or "account"
    limit_class: str | None


def choose_currency(estimate: Decimal, room: Room) -> str | Refusal:
    """The first currency in the consumption order whose available amount covers the estimate
    (and is above zero); then the key's and the account's room in its class must cover it too,
    or it is refused without trying the next currency."""
    for currency in ORDER:
        left = room.available[currency]
        if left is None or left <= 0 or left < estimate:
            continue
        limit_class = CLASS_OF[currency]
        for reason, remaining in (("key", room.key[limit_class]),
                                  ("account", room.account[limit_class])):
            if remaining is not None and (remaining <= 0 or remaining < estimate):
                return Refusal(reason, limit_class)
        return currency
    return Refusal("balance", None)


async def authorize(
    db: Database, limiter: RateLimiter, request: AuthorizeRequest, *,
    refusals: RefusalLog | None = None, at_ms: int | None = None,
) -> Grant:
    """Grant a hold for the request's estimate or raise: InvalidInput (unknown key id or SKU),
    NotAuthenticated (a revoked, expired or unknown key), RateLimited (noted in `refusals`),
    Conflict (a request_id repeated with another estimate), PaymentRequired (a limit or the
    balance)."""
    now = at_ms if at_ms is not None else now_ms()
    skus = tuple(sorted({item.sku for item in request.estimate.items}))
    limited: RateLimited | None = None
    async with store.transaction(db) as tx:
        key = await _lock_key(tx, request, skus)
        if key.revoked_ms is not None or (key.expires_ms is not None and key.expires_ms <= now):
            raise NotAuthenticated(INVALID_API_KEY)
        try:
            await limiter.check(key.key_id)
        except RateLimited as exc:
            limited = exc  # noted once this transaction (which wrote nothing) has ended
        else:
            grant = await _grant(tx, key, request, skus, now)
    if limited is not None:
        if refusals is not None:
            await refusals.note(Caller(key.key_id, key.account_id, KeyType(key.key_type)), now)
        raise limited
    return grant


async def _grant(tx: AdmissionTransaction, key: LockedKey, request: AuthorizeRequest,
                 skus: tuple[str, ...], now: int) -> Grant:
    """Decide under the lock and insert the hold (or answer the request_id's earlier one)."""
    state = await tx.read_state(_state_query(key, request, skus, now))
    problems = ProblemCollector()
    estimate = price_estimate(request.estimate, state.prices, problems)
    problems.raise_if_any(INVALID_BODY)
    fingerprint = request.estimate.fingerprint()
    by_secret = request.api_key is not None
    if state.earlier is not None:
        if state.earlier.fingerprint != fingerprint:
            raise Conflict(
                f"{{request_id}} {request.request_id} was authorized with another estimate")
        return Grant(state.earlier, by_secret)
    choice = choose_currency(estimate, room_of(key, state))
    if isinstance(choice, Refusal):
        raise _refused(choice, key.limit_period, now)
    hold = HoldRow(new_id("hold"), key.account_id, key.key_id, choice, estimate, now,
                   now + request.hold_seconds * 1000, None, request.request_id, fingerprint)
    await tx.insert_hold(hold)
    return Grant(hold, by_secret)


async def _lock_key(tx: AdmissionTransaction, request: AuthorizeRequest, skus: tuple[str, ...]
                    ) -> LockedKey:
    """The key named, with its account locked. An unknown key id is InvalidInput (with any
    unknown SKU named too); an unknown secret is NotAuthenticated."""
    if request.api_key_id is not None:
        key = await tx.lock_key(key_id=request.api_key_id)
    else:
        key = await tx.lock_key(secret_hash=hash_secret(request.api_key or ""))
    if key is not None:
        return key
    if request.api_key is not None:
        raise NotAuthenticated(INVALID_API_KEY)
    problems = ProblemCollector()
    problems.add("api_key_id", "is not a known API key")
    price_estimate(request.estimate, await tx.prices(skus), problems)
    raise InvalidInput(problems.problems, INVALID_BODY)


def _state_query(key: LockedKey, request: AuthorizeRequest, skus: tuple[str, ...],
                 now: int) -> StateQuery:
    key_window = None
    if key.limit_usd is not None or key.limit_diem is not None:
        window = period_window(key.limit_period, now)
        key_window = (window.start_ms, window.end_ms)
    monthly = key.monthly.usd is not None or key.monthly.diem is not None
    return StateQuery(key.account_id, key.key_id, now, now // MS_PER_DAY, key_window,
                      month_span(now) if monthly else None, request.request_id, skus)


def room_of(key: LockedKey, state: AdmissionState) -> Room:
    """What is left for a new hold: balances minus live holds; the key's limits minus its
    spend in its window and its live holds; the account's monthly limits minus its month's
    spend and all its live holds."""
    held, key_held = state.holds.account, state.holds.key
    available: dict[str, Decimal | None] = {
        currency: state.credits.get(currency, ZERO) - held.get(currency, ZERO)
        for currency in (BUNDLED, USD)
    }
    available[DIEM] = (None if key.diem_allocation is None else
                       key.diem_allocation - state.diem_used - held.get(DIEM, ZERO))
    key_used = _by_class(state.key_spend, key_held)
    account_used = _by_class(state.month_spend, held)
    limits = {"usd": (key.limit_usd, key.monthly.usd), "diem": (key.limit_diem, key.monthly.diem)}
    return Room(
        available,
        {name: None if k is None else k - key_used[name] for name, (k, _) in limits.items()},
        {name: None if a is None else a - account_used[name] for name, (_, a) in limits.items()},
    )


def _by_class(*per_currency: dict[str, Decimal]) -> dict[str, Decimal]:
    totals = {"usd": ZERO, "diem": ZERO}
    for amounts in per_currency:
        for currency, amount in amounts.items():
            totals[CLASS_OF[currency]] += amount
    return totals


def _refused(refusal: Refusal, limit_period: str, now: int) -> PaymentRequired:
    if refusal.reason == "balance" or refusal.limit_class is None:
        return PaymentRequired(INSUFFICIENT_BALANCE)
    if refusal.reason == "key":
        end = window_end_ms(limit_period, now)
        return PaymentRequired(key_limit_text(refusal.limit_class), _seconds_until(end, now))
    return PaymentRequired(account_limit_text(refusal.limit_class),
                           _seconds_until(month_span(now)[1], now))


def _seconds_until(end_ms: int | None, now: int) -> int | None:
    return None if end_ms is None else max(1, math.ceil((end_ms - now) / 1000))
