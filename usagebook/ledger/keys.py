"""API keys: creation (the secret is shown once), authentication by hash, listing, settings and
limits, revocation. The CLI and the HTTP API both go through these functions: each rule has one
owner here (the 500-active-keys cap, limit ranges, one revocation path).

A secret is 32 random bytes; only its SHA-256 hash is stored. A high-entropy secret needs no
slow password hash, so authentication is one indexed lookup.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import Enum, StrEnum

from usagebook.errors import InvalidInput, NotAllowed, NotAuthenticated, NotFound, ProblemCollector
from usagebook.ledger.accounts import require_account, unknown_account
from usagebook.ledger.ids import new_id
from usagebook.ledger.key_usage import LimitPeriod
from usagebook.store import keys as store
from usagebook.store.engine import Database
from usagebook.store.rows import KeyRow
from usagebook.timeutil import now_ms, to_ms

SECRET_PREFIX = "ubk_"
INVALID_KEY_MESSAGE = "Invalid or missing API key"
ADMIN_REQUIRED_MESSAGE = "Admin API key required"
MAX_ACTIVE_KEYS = 500  # per account, however the keys were made
MAX_DESCRIPTION = 64
MAX_LIMIT = Decimal(9_999_999_999)
NANO = Decimal("0.000000001")  # money's resolution
# The shape of every key id `new_id("key")` makes. An id of another shape names no key: it is
# answered as unknown without a lookup (PostgreSQL refuses text with NUL in it, SQLite would not).
KEY_ID = re.compile(r"key_[A-Za-z0-9]{1,36}", re.ASCII)


class KeyType(StrEnum):
    ADMIN = "ADMIN"
    INFERENCE = "INFERENCE"


class ModelPrivacy(StrEnum):
    ALL = "ALL"
    PRIVATE_TEXT = "PRIVATE_TEXT"
    PRIVATE_ONLY = "PRIVATE_ONLY"


@dataclass(frozen=True)
class KeyLimits:
    """Spending limits per currency class in the key's window; None = no limit, 0 = none."""

    usd: Decimal | None = None
    diem: Decimal | None = None
    vcu: Decimal | None = None


@dataclass(frozen=True)
class KeyOptions:
    """A new key's settings beyond its account and type."""

    description: str = ""
    expires_ms: int | None = None
    limits: KeyLimits = field(default_factory=KeyLimits)
    limit_period: LimitPeriod = LimitPeriod.EPOCH
    model_privacy: ModelPrivacy = ModelPrivacy.ALL


class Keep(Enum):
    """Marks a setting that an update leaves as it is (None is a value: no expiry)."""

    KEEP = "keep"


KEEP = Keep.KEEP


@dataclass(frozen=True)
class KeyUpdate:
    """Settings to change; anything left out (None, KEEP, absent from `limits`) stays."""

    description: str | None = None
    expires_ms: int | Keep | None = KEEP
    limits: dict[str, Decimal | None] = field(default_factory=dict)  # "usd"/"diem"/"vcu"
    limit_period: LimitPeriod | None = None
    model_privacy: ModelPrivacy | None = None

    def changes(self) -> dict[str, object]:
        """KeyRow field -> new value."""
        found: dict[str, object] = {f"limit_{name}": value for name, value in self.limits.items()}
        if self.description is not None:
            found["description"] = self.description
        if self.expires_ms is not KEEP:
            found["expires_ms"] = self.expires_ms
        if self.limit_period is not None:
            found["limit_period"] = self.limit_period.value
        if self.model_privacy is not None:
            found["model_privacy"] = self.model_privacy.value
        return found


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
    *,
    options: KeyOptions | None = None,
) -> CreatedKey:
    """Make a key (`options`, when given, replaces `description` and `expires_at`). Raises
    InvalidInput for bad settings or when the account already has MAX_ACTIVE_KEYS active keys,
    NotFound for an unknown account."""
    if options is None:
        options = KeyOptions(description, to_ms(expires_at) if expires_at else None)
    created = now_ms()
    _check_options(options, created)
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    limits = options.limits
    row = KeyRow(new_id("key"), account_id, key_type.value, options.description, created, None,
                 options.expires_ms, limits.usd, limits.diem, limits.vcu,
                 options.limit_period.value, options.model_privacy.value, last6=secret[-6:])
    async with db.write() as conn:
        # The lock makes count-then-insert exact under concurrent creations.
        if not await store.lock_account(conn, account_id):
            raise unknown_account(account_id)
        if await store.count_active(conn, account_id, created) >= MAX_ACTIVE_KEYS:
            message = f"An account may have at most {MAX_ACTIVE_KEYS} active API keys"
            raise InvalidInput({"": [message]}, message)
        await store.insert_key(conn, row, hash_secret(secret))
    return CreatedKey(row=row, secret=secret)


def _check_options(options: KeyOptions, at_ms: int) -> None:
    problems = ProblemCollector()
    check_description(problems, options.description)
    check_expiry(problems, options.expires_ms, at_ms)
    check_limits(problems, options.limits)
    problems.raise_if_any()


def check_description(problems: ProblemCollector, description: str) -> None:
    if len(description) > MAX_DESCRIPTION:
        problems.add("description", f"must be at most {MAX_DESCRIPTION} characters")
    if "\x00" in description:  # PostgreSQL cannot store NUL: refused on both databases alike
        problems.add("description", "must not contain NUL characters")


def check_expiry(problems: ProblemCollector, expires_ms: int | None, at_ms: int) -> None:
    if expires_ms is not None and expires_ms <= at_ms:
        problems.add("expires_ms", "must be in the future")


def check_limits(problems: ProblemCollector, limits: KeyLimits) -> None:
    for name in ("usd", "diem", "vcu"):
        value: Decimal | None = getattr(limits, name)
        if value is None:
            continue
        if not (value.is_finite() and 0 <= value <= MAX_LIMIT):
            problems.add(f"limits.{name}", f"must be between 0 and {MAX_LIMIT}")
        elif value != value.quantize(NANO):
            problems.add(f"limits.{name}", "must have at most 9 decimal places")


async def authenticate(db: Database, secret: str | None, *, admin: bool = True) -> Caller:
    """The caller behind a bearer secret. Raises NotAuthenticated for a missing, unknown, revoked
    or expired key (without saying which), and NotAllowed for an INFERENCE key where `admin`."""
    if not secret:
        raise NotAuthenticated(INVALID_KEY_MESSAGE)
    row = await _key_by_hash(db, hash_secret(secret))
    if row is None or not is_active(row, now_ms()):
        raise NotAuthenticated(INVALID_KEY_MESSAGE)
    caller = Caller(row.id, row.account_id, KeyType(row.key_type))
    if admin and caller.key_type is not KeyType.ADMIN:
        raise NotAllowed(ADMIN_REQUIRED_MESSAGE)
    return caller


async def _key_by_hash(db: Database, secret_hash: str) -> KeyRow | None:
    """From the process's key cache when it read the key under 4 s ago (so a revocation is
    seen within 5 s everywhere: `store.keycache`), else from the database."""
    row = db.keys.get(secret_hash)
    if row is None:
        began = db.keys.clock()
        row = await db.retrying(lambda d: store.fetch_by_hash(d, secret_hash))
        if row is not None:
            db.keys.put(secret_hash, row, began)
    return row


def is_active(row: KeyRow, at_ms: int) -> bool:
    return row.revoked_ms is None and (row.expires_ms is None or row.expires_ms > at_ms)


async def list_keys(db: Database, account_id: str, *, active_only: bool = False) -> list[KeyRow]:
    """An account's keys (only those neither revoked nor expired with `active_only`), oldest
    first; NotFound for an unknown account (not an empty list, which would hide a mistyped id)."""
    async with db.read() as conn:
        await require_account(conn, account_id)
        return await store.list_for_account(conn, account_id, now_ms() if active_only else None)


def _require_key_shape(key_id: str) -> None:
    if not KEY_ID.fullmatch(key_id):
        raise NotFound(f"No key {key_id!r}")


async def get_key(db: Database, key_id: str, account_id: str | None = None) -> KeyRow:
    """The key (of `account_id`, when given); NotFound otherwise, another account's key too."""
    _require_key_shape(key_id)
    async with db.read() as conn:
        row = await store.find_by_id(conn, key_id, account_id)
    if row is None:
        raise NotFound(f"No key {key_id}")
    return row


async def update_key(
    db: Database, key_id: str, update: KeyUpdate, account_id: str | None = None
) -> KeyRow:
    """Change a key's settings; the key as it is afterwards. Raises InvalidInput for bad
    settings, NotFound for an unknown or revoked key (or another account's)."""
    problems = ProblemCollector()
    if update.description is not None:
        check_description(problems, update.description)
    if update.expires_ms is not KEEP:
        check_expiry(problems, update.expires_ms, now_ms())
    check_limits(problems, KeyLimits(**update.limits))
    problems.raise_if_any()
    _require_key_shape(key_id)
    async with db.write() as conn:
        if account_id is None:
            found = await store.find_by_id(conn, key_id)
            account_id = found.account_id if found else ""
        row = await store.update_key(conn, key_id, account_id, update.changes())
    if row is None:
        raise NotFound(f"No key {key_id}")
    await db.keys.revoked(key_id)  # an earlier expiry must reach every process as a revocation
    return row


async def revoke_key(
    db: Database, key_id: str, *, account_id: str | None = None, caller_key_id: str | None = None
) -> None:
    """Revoke a key (of `account_id`, when given: a customer reaches only its own). The one
    revocation path, for HTTP and the CLI alike. Raises NotFound for an unknown key (or another
    account's), InvalidInput when it is the key making the call (`caller_key_id`).

    Once it returns, every server process refuses the key within 5 s: its cache entry is dropped
    here at once, in other processes through Redis when configured, and by age anyway
    (`store.keycache`)."""
    if key_id == caller_key_id:
        raise InvalidInput.single("id", "cannot revoke the API key used for this request")
    _require_key_shape(key_id)
    async with db.write() as conn:
        if not await store.revoke(conn, key_id, now_ms(), account_id):
            raise NotFound(f"No key {key_id}")
    await db.keys.revoked(key_id)
