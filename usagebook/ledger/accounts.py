"""Accounts: the tenant every key, entry and balance belongs to."""

from __future__ import annotations

from dataclasses import dataclass

from usagebook.errors import InvalidInput
from usagebook.ledger.ids import new_id
from usagebook.store import accounts as store
from usagebook.store.engine import Database
from usagebook.timeutil import now_ms


@dataclass(frozen=True)
class Account:
    id: str
    name: str


async def create_account(db: Database, name: str) -> Account:
    if not name.strip():
        raise InvalidInput.single("name", "must not be empty")
    account = Account(id=new_id("acct"), name=name.strip())
    async with db.write() as conn:
        await store.insert_account(conn, account.id, account.name, now_ms())
    return account
