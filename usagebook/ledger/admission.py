"""Admission: POST /usage/authorize grants a hold on an estimate's cost, or refuses it (402).

Guarantees, for any number of concurrent calls on any number of processes:
- a hold is granted only when, with it, the key's spend in its limit window plus the key's live
  holds stay within the key's limit for the hold's class (`usd`: USD and BUNDLED_CREDITS,
  `diem`: DIEM), the account's month spend plus its live holds within its monthly limit, and
  the currency's balance minus the account's live holds covers it. The decision is made under
  the account's lock (`store.limits.lock_for_admission`), the lock recording also takes, with
  every figure read after the lock is granted, and the hold is inserted before it is released:
  no two grants can both count on the same room;
- spend and balances come from the ledger's projections (kept in the transaction that stores
  the entries), holds from their rows, the key's state from its row: nothing is cached;
- a requestId makes a call idempotent per key: the same estimate gets the original hold back
  (settled or expired included), another estimate a Conflict.
Recording settles holds (`ledger.recording`); the only spend beyond a limit is recorded cost
above what holds authorized, which is counted as overspend.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy.ext.asyncio import AsyncConnection

from usagebook.errors import Conflict, NotAuthenticated, PaymentRequired, ProblemCollector
from usagebook.ledger.balances import BUNDLED, DIEM, USD
from usagebook.ledger.estimates import INVALID_BODY, AuthorizeBody, parse_body, price_estimate
from usagebook.ledger.ids import new_id
from usagebook.ledger.key_usage import current_period_usage_in, window_end_ms
from usagebook.ledger.keys import hash_secret, is_active
from usagebook.ledger.months import month_span
from usagebook.ledger.ratelimit import RateLimiter
from usagebook.store import balances as balance_store
from usagebook.store import holds as hold_store
from usagebook.store import keys as key_store
from usagebook.store import limits as limit_store
from usagebook.store import skus as sku_store
from usagebook.store.engine import Database
from usagebook.store.holds import HoldRow, LiveHolds
from usagebook.store.keys import KeyRow
from usagebook.store.limits import LockedState
from usagebook.timeutil import MS_PER_DAY, now_ms

ZERO = Decimal(0)
ORDER = (DIEM, BUNDLED, USD)  # the consumption order
CLASS_OF = {DIEM: "diem", BUNDLED: "usd", USD: "usd"}  # which limit a currency counts against
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
    db: Database, limiter: RateLimiter, body: Any, at_ms: int | None = None
) -> Grant:
    """Grant a hold for the body's estimate or raise: InvalidInput (bad body, unknown key id or
    SKU), NotAuthenticated (a revoked, expired or unknown key), RateLimited, Conflict (a
    requestId repeated with another estimate), PaymentRequired (a limit or the balance)."""
    request = parse_body(body)
    now = at_ms if at_ms is not None else now_ms()
    async with db.write() as conn:
        key, estimate = await _resolve(conn, request)
        if key is None or not is_active(key, now):
            raise NotAuthenticated(INVALID_API_KEY)
        await limiter.check(key.id)
        state = await limit_store.lock_for_admission(conn, key.account_id, key.id)
        if state is None or state.key_revoked_ms is not None or (
            state.key_expires_ms is not None and state.key_expires_ms <= now
        ):
            raise NotAuthenticated(INVALID_API_KEY)  # revoked meanwhile
        fingerprint = request.estimate.fingerprint()
        by_secret = request.api_key is not None
        if request.request_id is not None:
            earlier = await hold_store.find_by_request(conn, key.id, request.request_id)
            if earlier is not None:
                if earlier.fingerprint != fingerprint:
                    raise Conflict(f"requestId {request.request_id} was authorized with "
                                   "another estimate")
                return Grant(earlier, by_secret)
        room = await _room(conn, replace(key, limit_period=state.key_limit_period), state, now)
        choice = choose_currency(estimate, room)
        if isinstance(choice, Refusal):
            raise _refused(choice, state.key_limit_period, now)
        hold = HoldRow(new_id("hold"), key.account_id, key.id, choice, estimate, now,
                       now + request.hold_seconds * 1000, None, request.request_id, fingerprint)
        await hold_store.insert_hold(conn, hold)
    return Grant(hold, by_secret)


async def _resolve(conn: AsyncConnection, request: AuthorizeBody) -> tuple[KeyRow | None, Decimal]:
    """The key named (fresh from its row) and the estimate's cost; InvalidInput names an
    unknown key id and unknown SKUs together."""
    problems = ProblemCollector()
    if request.api_key_id is not None:
        key = await key_store.find_by_id(conn, request.api_key_id)
        if key is None:
            problems.add("apiKeyId", "is not a known API key")
    else:
        key = await key_store.find_by_hash(conn, hash_secret(request.api_key or ""))
    names = {line.sku for line in request.estimate.lines()}
    skus = await sku_store.find_skus(conn, names)
    estimate = price_estimate(request.estimate, skus, problems)
    problems.raise_if_any(INVALID_BODY)
    return key, estimate


async def _room(conn: AsyncConnection, key: KeyRow, state: LockedState, now: int) -> Room:
    account_id = key.account_id
    credits = await balance_store.read_credits(conn, [account_id])
    held = await hold_store.live_holds(conn, account_id, key.id, now)
    available: dict[str, Decimal | None] = {}
    for currency in (BUNDLED, USD):
        row = credits.get((account_id, currency))
        balance = row.balance if row else ZERO
        available[currency] = balance - held.account.get(currency, ZERO)
    available[DIEM] = None
    if state.diem_allocation is not None:
        today = now // MS_PER_DAY
        used = await balance_store.read_diem_consumed(conn, [(account_id, today)])
        available[DIEM] = (state.diem_allocation - used.get((account_id, today), ZERO)
                           - held.account.get(DIEM, ZERO))
    return Room(available, await _key_room(conn, key, state, held, now),
                await _account_room(conn, account_id, state, held, now))


def _by_class(amounts: dict[str, Decimal]) -> dict[str, Decimal]:
    totals = {"usd": ZERO, "diem": ZERO}
    for currency, amount in amounts.items():
        totals[CLASS_OF[currency]] += amount
    return totals


async def _key_room(
    conn: AsyncConnection, key: KeyRow, state: LockedState, held: LiveHolds, now: int
) -> dict[str, Decimal | None]:
    limits = {"usd": state.key_limit_usd, "diem": state.key_limit_diem}
    if all(limit is None for limit in limits.values()):
        return dict(limits)
    spend = await current_period_usage_in(conn, key, now)
    holds = _by_class(held.key)
    return {
        name: None if limit is None else limit - spend.of_class(name) - holds[name]
        for name, limit in limits.items()
    }


async def _account_room(
    conn: AsyncConnection, account_id: str, state: LockedState, held: LiveHolds, now: int
) -> dict[str, Decimal | None]:
    limits = {"usd": state.monthly.usd, "diem": state.monthly.diem}
    if all(limit is None for limit in limits.values()):
        return dict(limits)
    start, end = month_span(now)
    spend = _by_class(await limit_store.spend_by_currency(conn, account_id, start, end))
    holds = _by_class(held.account)
    return {
        name: None if limit is None else limit - spend[name] - holds[name]
        for name, limit in limits.items()
    }


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
