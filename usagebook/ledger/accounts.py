"""Accounts: the tenant every key, entry and balance belongs to.

`unknown_account` is the one error for an id that names no account (NotFound, `No account
<id>`: a 404 on the API, a FAILED line in the CLI); every ledger operation on an account raises
it, through `require_account` or on its own store call's evidence (a lock or an update that
found no row).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from usagebook.errors import InvalidInput, NotFound
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


def unknown_account(account_id: str) -> NotFound:
    return NotFound(f"No account {account_id}")


async def require_account(conn: AsyncConnection, account_id: str) -> None:
    """Raise `unknown_account` unless the account exists (read in `conn`'s transaction)."""
    if not await store.account_exists(conn, account_id):
        raise unknown_account(account_id)
