"""The lookups recording needs for a whole batch at once: keys' accounts and stored originals."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ARRAY, String, any_, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from usagebook.store.entries import ENTRY_COLUMNS, EntryRow
from usagebook.store.tables import api_keys
from usagebook.store.tables import usage_entries as ue

EntryKey = tuple[str, str, str]  # (account id, request id, sku): unique in the ledger


async def key_accounts(conn: AsyncConnection, key_ids: Iterable[str]) -> dict[str, str]:
    """The account of each existing key id, revoked and expired keys included."""
    wanted = sorted(set(key_ids))
    if not wanted:
        return {}
    rows = await conn.execute(
        select(api_keys.c.id, api_keys.c.account_id).where(api_keys.c.id.in_(wanted))
    )
    return {key_id: account_id for key_id, account_id in rows}


async def find_stored(conn: AsyncConnection, keys: Iterable[EntryKey]) -> dict[EntryKey, EntryRow]:
    """The stored entries among `keys`, found through the unique (account, request, sku) index."""
    wanted = set(keys)
    if not wanted:
        return {}
    found: dict[EntryKey, EntryRow] = {}
    by_account: dict[str, set[str]] = {}
    for account_id, request_id, _sku in wanted:
        by_account.setdefault(account_id, set()).add(request_id)
    for account_id, request_ids in sorted(by_account.items()):
        rows = await conn.execute(
            select(*ENTRY_COLUMNS).where(
                ue.c.account_id == account_id, _one_of(conn, ue.c.request_id, request_ids)
            )
        )
        for row in rows:
            entry = EntryRow(*tuple(row))
            key = (account_id, entry.request_id, entry.sku)
            if key in wanted:
                found[key] = entry
    return found


def _one_of(conn: AsyncConnection, column: Any, values: set[str]) -> Any:
    """`column IN (values)`; on PostgreSQL as `= ANY(array)`: one parameter, not one per value
    (SQLAlchemy's expansion of 1000 IN parameters cost more than the query)."""
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam("one_of", sorted(values), type_=ARRAY(String)))
    return column.in_(sorted(values))
