"""Recording usage: validate a batch, price it, charge it in the consumption order, store it.

Guarantees, for one call:
- all or nothing: an invalid event raises InvalidInput naming it (`events.<index>.<field>`, by
  the Event's field names: usagebook.errors) and nothing is written; otherwise every entry and
  balance change commits in one transaction;
- exactly once: `(account, request_id, sku)` is unique in the store, and the database decides.
  A batch is first inserted as if every event were new (no read of originals, no ON
  CONFLICT); if the unique constraint refuses it, the transaction is dropped and the batch run
  again under the accounts' locks, originals read first and the insert made with ON CONFLICT
  DO NOTHING. A repeat answers `duplicate` when every field it sent matches the original, else
  `conflict`; both carry the original;
- the currency of each new charge is decided under the account's lock (the balance lock), in
  batch order, so each charge sees every charge before it. Recording never refuses for lack of
  balance: with nothing above zero the charge goes to USD;
- an event naming a live hold (`hold_id`, from POST /usage/authorize) is charged in the hold's
  currency, and the hold is released in the same transaction (`ledger.settlement`); one naming
  an expired or settled hold is recorded as if it named none. Either way, recorded cost beyond
  what a live hold reserved is counted as the account's overspend.

The endpoint, `usagebook import` and the demo all come through `record`; the edges read the
events off the wire (`api.event_wire`), and hand in what an invalid one names (`Named`) in its
place, so that every problem is reported at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, NamedTuple

from sqlalchemy.ext.asyncio import AsyncConnection

from usagebook import metrics
from usagebook.errors import ProblemCollector
from usagebook.ledger.balances import USD, Consumption, load_consumption
from usagebook.ledger.events import Event, Named
from usagebook.ledger.pricing import MAX_CHARGE, price
from usagebook.ledger.settlement import Settlement, check_hold
from usagebook.store import balances as balance_store
from usagebook.store import holds as hold_store
from usagebook.store import skus as sku_store
from usagebook.store.engine import Database
from usagebook.store.entries import find_archived, find_stored
from usagebook.store.holds import HoldRow
from usagebook.store.keys import key_accounts
from usagebook.store.rows import EntryFields, EntryKey, NewEntry
from usagebook.store.write import (
    AlreadyStored,
    TotalOverflow,
    overflow_as_total_overflow,
    write_batch,
)
from usagebook.timeutil import MS_PER_DAY, now_ms

Status = Literal["recorded", "duplicate", "conflict"]
PAST_WINDOW_MS = 24 * 3_600_000
HOLD_PAST_WINDOW_MS = 7 * 24 * 3_600_000  # usage admitted in advance may be recorded late
FUTURE_WINDOW_MS = 5 * 60_000
INVALID_EVENTS = "Invalid usage events"
TOO_LARGE_TOTAL = ("would take a balance or usage total of its account past what the ledger "
                   "holds (9223372036.854775807 on SQLite); nothing of the batch was recorded")


@dataclass(slots=True)  # not frozen, for speed (see NewEntry); never mutated
class EventResult:
    index: int
    status: Status
    entry: EntryFields


async def record_live(
    db: Database, events: Sequence[Event | Named], problems: ProblemCollector,
    received_ms: int | None = None,
) -> list[EventResult]:
    """Record the endpoint's events (live events: the last 24 hours only), counted in /metrics
    once committed; `problems` holds what the edge found wrong with them."""
    if not events:
        problems.raise_if_any(INVALID_EVENTS)
    results = await record(db, events, received_ms=received_ms, problems=problems)
    statuses = [result.status for result in results]  # committed: count them in /metrics
    metrics.count_recording(*(statuses.count(s) for s in ("recorded", "duplicate", "conflict")))
    return results


async def record(
    db: Database,
    events: Sequence[Event | Named],
    *,
    received_ms: int | None = None,
    backfill: bool = False,
    problems: ProblemCollector | None = None,
) -> list[EventResult]:
    """Record validated events (a `Named` stands for one already reported invalid in
    `problems`: what it names is still checked for unknown SKUs, keys and accounts, so that
    every problem is reported at once). `backfill` (import, demo) accepts any past timestamp
    and an event's own currency."""
    problems = problems or ProblemCollector()
    received = received_ms if received_ms is not None else now_ms()
    _check_events(events, received, backfill, problems)
    try:
        try:
            return await _record(db, events, received, problems, assume_new=True)
        except AlreadyStored:
            # A repeat of a stored event is in the batch: do it again, reading the originals
            # first and letting the database skip what is stored.
            return await _record(db, events, received, problems, assume_new=False)
    except TotalOverflow:
        index = await _first_overflowing(db, events, received)
        problems.add(f"events.{index}.units", TOO_LARGE_TOTAL)
        problems.raise_if_any(INVALID_EVENTS)
        raise


class _Trial(Exception):
    """Ends a trial run of part of a batch: its transaction rolls back."""


async def _first_overflowing(db: Database, events: Sequence[Event | Named],
                             received: int) -> int:
    """The index of the event with which the batch first overflows a total. Charges only ever
    add to a total's size, so a prefix of the batch overflows from that event on: found by
    bisection, each step a trial run that is rolled back (a rare path: only for a batch that
    is refused anyway)."""
    fits, overflows = 0, len(events)  # events[:fits] fit; events[:overflows] overflow
    while overflows - fits > 1:
        middle = (fits + overflows) // 2
        try:
            await _record(db, events[:middle], received, ProblemCollector(), assume_new=False,
                          trial=True)
        except TotalOverflow:
            overflows = middle
        except _Trial:
            fits = middle
    return overflows - 1


async def _record(
    db: Database,
    events: Sequence[Event | Named],
    received: int,
    problems: ProblemCollector,
    *,
    assume_new: bool,
    trial: bool = False,
) -> list[EventResult]:
    async with overflow_as_total_overflow(), db.write() as conn:
        batch, allocations = await _resolve(conn, events, problems)
        problems.raise_if_any(INVALID_EVENTS)
        settlement = Settlement(received) if any(item.hold for item in batch) else None
        results = await _store(conn, batch, allocations, received, settlement,
                               assume_new=assume_new)
        if settlement is not None:
            await settlement.write(conn)
        if trial:
            raise _Trial
    if settlement is not None:
        settlement.count()  # committed: count the overspend in /metrics
    return results


# NamedTuples, not dataclasses: one of each is built per event (a tuple is the cheapest).
class _Resolved(NamedTuple):
    event: Event
    account_id: str
    price_per_unit: Decimal
    amount: Decimal
    hold: HoldRow | None  # the hold the event names, live or not


def _check_events(
    events: Sequence[Event | Named], received: int, backfill: bool, problems: ProblemCollector
) -> None:
    latest = received + FUTURE_WINDOW_MS
    for index, event in enumerate(events):
        if isinstance(event, Named):
            continue
        where = f"events.{index}"
        if (event.api_key_id is None) == (event.account_id is None):
            problems.add(f"{where}.api_key_id",
                         "exactly one of {api_key_id} and {account_id} is required")
        past = HOLD_PAST_WINDOW_MS if event.hold_id is not None else PAST_WINDOW_MS
        earliest = None if backfill else received - past
        if event.ts_ms is not None and (
            event.ts_ms > latest or (earliest is not None and event.ts_ms < earliest)
        ):
            window = (
                "at most 5 minutes ahead"
                if backfill
                else f"within the last {'7 days' if event.hold_id else '24 hours'} "
                "(and at most 5 minutes ahead)"
            )
            problems.add(f"{where}.ts_ms", f"must be {window}")
        if event.currency is not None and not backfill:
            problems.add(
                f"{where}.currency",
                "is decided by the consumption order; only `usagebook import` may carry one",
            )


async def _resolve(
    conn: AsyncConnection,
    events: Sequence[Event | Named],
    problems: ProblemCollector,
) -> tuple[list[_Resolved], dict[str, Decimal | None]]:
    """Find each event's SKU and account, and lock the accounts (returning their DIEM
    allocations); report unknown ones."""
    refs = [(event.sku, event.api_key_id, event.account_id) for event in events]
    skus = await sku_store.find_skus(conn, {sku for sku, _, _ in refs if sku})
    keys = await key_accounts(conn, {key for _, key, _ in refs if key})
    wanted = {account for _, _, account in refs if account} | set(keys.values())
    allocations = await balance_store.account_allocations(conn, wanted, lock=True)
    # Read under the accounts' locks: authorize inserts holds under the same lock.
    hold_ids = {event.hold_id for event in events if isinstance(event, Event) and event.hold_id}
    holds = await hold_store.find_holds(conn, hold_ids) if hold_ids else {}
    resolved: list[_Resolved] = []
    for index, (event, (sku_name, key_id, named_account)) in enumerate(
        zip(events, refs, strict=True)
    ):
        account_id = keys.get(key_id) if key_id else named_account
        if key_id and account_id is None:
            problems.add(f"events.{index}.api_key_id", "is not a known API key")
        elif named_account and account_id not in allocations:
            problems.add(f"events.{index}.account_id", "is not a known account")
        sku = skus.get(sku_name) if sku_name else None
        if sku_name and sku is None:
            problems.add(f"events.{index}.sku", "is not in the SKU catalog")
        if isinstance(event, Named) or account_id is None or sku is None:
            continue
        price_per_unit, amount = price(sku, event.units)  # the catalog's price, copied now
        if -amount > MAX_CHARGE:
            problems.add(f"events.{index}.units", f"the charge exceeds {MAX_CHARGE} USD")
        hold = None
        if event.hold_id is not None:
            hold = check_hold(holds.get(event.hold_id), event, account_id, index, problems)
        resolved.append(_Resolved(event, account_id, price_per_unit, amount, hold))
    return resolved, allocations


async def _store(
    conn: AsyncConnection,
    batch: list[_Resolved],
    allocations: dict[str, Decimal | None],
    received: int,
    settlement: Settlement | None,
    *,
    assume_new: bool,
) -> list[EventResult]:
    """Charge and insert the events not stored yet; answer each event in request order.

    With `assume_new` (the first attempt) nothing is read before the insert and the insert
    has no ON CONFLICT: a batch of new events, the usual kind, costs the database no probe for
    originals and no speculative insertion (docs/performance.md, Recording). The
    unique constraint still has the last word: a repeat of a stored event raises AlreadyStored,
    the transaction is lost, and `record` runs the batch again without the assumption, so
    charges are only ever decided knowing every original."""
    keys = [(item.account_id, item.event.request_id, item.event.sku) for item in batch]
    originals: dict[EntryKey, EntryFields] = (
        {} if assume_new else dict(await find_stored(conn, keys))
    )
    days = {(item.account_id, (item.event.ts_ms or received) // MS_PER_DAY) for item in batch}
    state = await load_consumption(conn, allocations, days)
    fresh: list[NewEntry] = []
    first: dict[EntryKey, int] = {}  # key -> index of the first event carrying it
    for index, (key, item) in enumerate(zip(keys, batch, strict=True)):
        if key not in originals and key not in first:
            first[key] = index
            fresh.append(_new_entry(item, received, state))
    ids = await write_batch(conn, fresh, assume_new=assume_new)
    recorded = {key: id_ for key, id_ in zip(first, ids, strict=True) if id_ is not None}
    if settlement is not None:
        for item in batch:
            if item.hold is not None:
                settlement.name(item.hold)
        for key, entry in zip(first, fresh, strict=True):
            hold = batch[first[key]].hold
            if key in recorded and hold is not None:
                settlement.charge(hold, entry)
    for key, entry in zip(first, fresh, strict=True):
        if key in recorded:
            originals[key] = entry
    # Stored by a writer that bypasses the account lock, after the originals were read: answer
    # with that original.
    originals.update(await find_stored(conn, [k for k in first if k not in recorded]))
    archived = [key for key in first if key not in originals]
    for key, (_, ts_ms) in (await find_archived(conn, archived)).items():
        originals[key] = _archived_original(batch[first[key]], ts_ms)
    results = []
    for index, (key, item) in enumerate(zip(keys, batch, strict=True)):
        if key in recorded and first[key] == index:
            status: Status = "recorded"
        else:
            status = "duplicate" if _same(item.event, originals[key]) else "conflict"
        results.append(EventResult(index, status, originals[key]))
    return results


def _new_entry(item: _Resolved, received: int, state: Consumption) -> NewEntry:
    event = item.event
    price_per_unit, amount = item.price_per_unit, item.amount
    ts_ms = event.ts_ms if event.ts_ms is not None else received
    hold = item.hold
    # A live hold reserved this cost in its currency; an expired or settled one reserves nothing.
    wanted = hold.currency if hold is not None and hold.is_live(received) else event.currency
    currency = state.charge(item.account_id, ts_ms, amount, wanted)
    return NewEntry(  # positional, in NewEntry's field order: cheaper than keywords
        item.account_id, event.api_key_id, ts_ms, event.sku, price_per_unit, event.units,
        amount, currency, event.request_id, event.notes, event.execution_ms,
        event.prompt_tokens, event.completion_tokens, event.tags,
    )


def _archived_original(item: _Resolved, ts_ms: int) -> NewEntry:
    """What a repeat of an archived event is compared with and answered with: its original
    went to the archive file with its month (`usagebook partitions archive`) and only its key
    and time stay, so the repeat stands in for it at the original's time, priced as now. The
    key decides: it is a duplicate (or a conflict, sent with another time), never charged."""
    event = item.event
    return NewEntry(
        item.account_id, event.api_key_id, ts_ms, event.sku, item.price_per_unit, event.units,
        item.amount, event.currency or USD, event.request_id, event.notes, event.execution_ms,
        event.prompt_tokens, event.completion_tokens, event.tags,
    )


# Sent fields compared against the original; request_id, sku and the account are its key.
_COMPARED = {
    "units": "units",
    "api_key_id": "api_key_id",
    "ts_ms": "ts_ms",
    "notes": "notes",
    "execution_ms": "execution_ms",
    "prompt_tokens": "prompt_tokens",
    "completion_tokens": "completion_tokens",
    "currency": "currency",
    "tags": "tags",  # canonical text on both sides: equal tags, equal text
}


def _same(event: Event, original: EntryFields) -> bool:
    """Whether every field the client sent matches the stored original (a duplicate)."""
    return all(
        getattr(event, name) == getattr(original, _COMPARED[name])
        for name in event.sent
        if name in _COMPARED
    )
