"""API keys: creation (the secret is shown once), authentication by hash, listing, revocation.

A secret is 32 random bytes; only its SHA-256 hash is stored. A high-entropy secret needs no
slow password hash, so authentication is one indexed lookup.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from usagebook.errors import InvalidInput, NotAllowed, NotAuthenticated, NotFound
from usagebook.ledger.ids import new_id
from usagebook.store import accounts as account_store
from usagebook.store import keys as store
from usagebook.store.engine import Database
from usagebook.store.keys import KeyRow
from usagebook.timeutil import now_ms, to_ms

SECRET_PREFIX = "ubk_"
INVALID_KEY_MESSAGE = "Invalid or missing API key"
ADMIN_REQUIRED_MESSAGE = "Admin API key required"


class KeyType(StrEnum):
    ADMIN = "ADMIN"
    INFERENCE = "INFERENCE"


@dataclass(frozen=True)
class CreatedKey:
    row: KeyRow
    secret: str


@dataclass(frozen=True)
class Caller:
    """Who is calling: the key and the account it speaks for."""

    key_id: str
    account_id: str
    key_type: KeyType


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_key(
    db: Database,
    account_id: str,
    key_type: KeyType,
    description: str = "",
    expires_at: datetime | None = None,
) -> CreatedKey:
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    created = now_ms()
    expires_ms = to_ms(expires_at) if expires_at else None
    if expires_ms is not None and expires_ms <= created:
        raise InvalidInput.single("expires", "must be in the future")
    row = KeyRow(new_id("key"), account_id, key_type.value, description, created, None, expires_ms)
    async with db.write() as conn:
        if not await account_store.account_exists(conn, account_id):
            raise NotFound(f"No account {account_id}")
        await store.insert_key(conn, row, hash_secret(secret))
    return CreatedKey(row=row, secret=secret)


async def authenticate(db: Database, secret: str | None, *, admin: bool = True) -> Caller:
    """The caller behind a bearer secret. Raises NotAuthenticated for a missing, unknown, revoked
    or expired key (without saying which), and NotAllowed for an INFERENCE key where `admin`."""
    if not secret:
        raise NotAuthenticated(INVALID_KEY_MESSAGE)
    async with db.read() as conn:
        row = await store.find_by_hash(conn, hash_secret(secret))
    if row is None or not is_active(row, now_ms()):
        raise NotAuthenticated(INVALID_KEY_MESSAGE)
    caller = Caller(row.id, row.account_id, KeyType(row.key_type))
    if admin and caller.key_type is not KeyType.ADMIN:
        raise NotAllowed(ADMIN_REQUIRED_MESSAGE)
    return caller


def is_active(row: KeyRow, at_ms: int) -> bool:
    return row.revoked_ms is None and (row.expires_ms is None or row.expires_ms > at_ms)


async def list_keys(db: Database, account_id: str) -> list[KeyRow]:
    """An account's keys, oldest first; NotFound for an unknown account (not an empty list, which
    would hide a mistyped id)."""
    async with db.read() as conn:
        if not await account_store.account_exists(conn, account_id):
            raise NotFound(f"No account {account_id}")
        return await store.list_for_account(conn, account_id)


async def revoke_key(db: Database, key_id: str) -> None:
    async with db.write() as conn:
        if not await store.revoke(conn, key_id, now_ms()):
            raise NotFound(f"No key {key_id}")
