"""Holds: amounts reserved by POST /usage/authorize until recording settles them or they expire.

A hold is live while `settled_ms IS NULL AND expires_ms > now`; every query here takes `now`
and compares, so an expired hold stops counting the moment it expires, with no job to release
it, and holds survive a restart (they are rows). Holds are written (inserted, settled) only
by a transaction that holds their account's lock (`store.keys.lock_account`), so the
live-hold sums read under that lock stay true until it commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import case, func, select, tuple_, type_coerce
from sqlalchemy.ext.asyncio import AsyncConnection

from usagebook.store.keys import lock_account
from usagebook.store.tables.admission import holds
from usagebook.store.types import Money

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class HoldRow:
    id: str
    account_id: str
    api_key_id: str
    currency: str
    amount: Decimal
    created_ms: int
    expires_ms: int
    settled_ms: int | None = None
    request_id: str | None = None
    fingerprint: str | None = None

    def is_live(self, at_ms: int) -> bool:
        return self.settled_ms is None and self.expires_ms > at_ms


_COLUMNS = tuple(holds.c[name] for name in HoldRow.__slots__)


@dataclass(frozen=True, slots=True)
class LiveHolds:
    """Sums of live holds per currency: the whole account's, and one key's among them."""

    account: dict[str, Decimal]
    key: dict[str, Decimal]


async def insert_hold(conn: AsyncConnection, hold: HoldRow) -> None:
    await conn.execute(holds.insert().values(
        {name: getattr(hold, name) for name in HoldRow.__slots__}
    ))


async def find_by_request(conn: AsyncConnection, key_id: str, request_id: str) -> HoldRow | None:
    """The hold granted to this key for this request id (live, settled or expired)."""
    query = select(*_COLUMNS).where(holds.c.api_key_id == key_id, holds.c.request_id == request_id)
    row = (await conn.execute(query)).first()
    return HoldRow(*row) if row else None


async def find_holds(conn: AsyncConnection, hold_ids: Iterable[str]) -> dict[str, HoldRow]:
    wanted = sorted(set(hold_ids))
    if not wanted:
        return {}
    rows = await conn.execute(select(*_COLUMNS).where(holds.c.id.in_(wanted)))
    return {row.id: HoldRow(*row) for row in rows}


async def live_holds(
    conn: AsyncConnection, account_id: str, key_id: str, now_ms: int
) -> LiveHolds:
    """The account's live holds per currency, and `key_id`'s. One range of the partial index
    ix_holds_account_live (unsettled holds by expiry) from `now_ms` on."""
    h = holds.c
    key_amount = case((h.api_key_id == key_id, h.amount), else_=None)
    query = (
        select(h.currency, func.sum(h.amount), type_coerce(func.sum(key_amount), Money))
        .where(h.account_id == account_id, h.settled_ms.is_(None), h.expires_ms > now_ms)
        .group_by(h.currency)
    )
    account: dict[str, Decimal] = {}
    key: dict[str, Decimal] = {}
    for currency, total, key_total in await conn.execute(query):
        account[currency] = total
        if key_total is not None:
            key[currency] = key_total
    return LiveHolds(account, key)


async def settle(conn: AsyncConnection, found: Iterable[HoldRow], settled_ms: int) -> None:
    """Mark holds settled (they stop counting), in the caller's transaction. Each is named by
    its whole key, (id, account): on a database distributed by account, one shard each."""
    wanted = sorted({(hold.id, hold.account_id) for hold in found})
    if wanted:
        await conn.execute(
            holds.update()
            .where(tuple_(holds.c.id, holds.c.account_id).in_(wanted),
                   holds.c.settled_ms.is_(None))
            .values(settled_ms=settled_ms)
        )


async def release(conn: AsyncConnection, hold_id: str, at_ms: int) -> tuple[HoldRow, bool] | None:
    """End a hold without charging anything (its inference call recorded no usage), in the
    caller's write transaction: (the hold as it was, whether this call ended it), or None when
    there is no such hold. Only a live hold changes; a settled, released or expired one is left
    as it is. The account's lock is taken first, as authorize and recording take it, so a
    release and a settling of the same hold are serialized and exactly one of them ends it."""
    found = (await find_holds(conn, [hold_id])).get(hold_id)
    if found is None:
        return None
    await lock_account(conn, found.account_id)
    ended = await conn.execute(
        holds.update()
        .where(holds.c.id == hold_id, holds.c.account_id == found.account_id,
               holds.c.settled_ms.is_(None), holds.c.expires_ms > at_ms)
        .values(settled_ms=at_ms)
    )
    return found, ended.rowcount == 1
