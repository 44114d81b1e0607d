"""Signed usage-history cursors: opaque to clients, trusted by the server only after checking
their HMAC.

A cursor carries everything a continuation needs (filters, page size, the walk's position and
its snapshot bound) so the server keeps no state per walk. It is signed with HMAC-SHA256 under a
key derived from `Settings.secret_key`, and the account id is part of the signed message but not
of the token: a cursor presented by another account fails verification exactly like a tampered
one, and reveals nothing about the account that started the walk.

Token layout (then base64url without padding, 112 characters):

    version:u8 flags:u8 page_size:u16 start_ms:i64 end_ms:i64
    after_ts:i64 after_id:i64 snapshot_id:i64 expires_ms:i64 [tags] | hmac_sha256:32 bytes

`flags` holds whether start and end are set (bits 0, 1) and the currency's code (bits 2-3).
A walk filtered by tags is version 2: its tag filters follow as ASCII `key=value` pairs joined
by `&` (neither may hold either character), up to 2 of them so a token stays within 512
characters.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from dataclasses import dataclass

from usagebook.errors import InvalidInput

CURSOR_LIFETIME_MS = 24 * 3_600_000
MAX_TAG_FILTERS = 2
_VERSION, _TAGGED_VERSION = 1, 2
_LAYOUT = struct.Struct(">BBHqqqqqq")
_MAC_BYTES = 32
_CURRENCIES = (None, "USD", "DIEM", "BUNDLED_CREDITS")
_HAS_START, _HAS_END = 0b01, 0b10
_KEY_LABEL = b"usagebook usage-history cursor v1"
INVALID_MESSAGE = "is not a cursor this server issued for this account"
EXPIRED_MESSAGE = "has expired; start a new walk without a cursor"


@dataclass(frozen=True, slots=True)
class WalkCursor:
    """Where a usage-history walk stands. `end_ms` is exclusive; entries with an id above
    `snapshot_id` did not exist when the walk started and are never returned."""

    currency: str | None
    start_ms: int | None
    end_ms: int | None
    page_size: int
    after_ts: int
    after_id: int
    snapshot_id: int
    expires_ms: int
    tags: tuple[tuple[str, str], ...] = ()


def encode_cursor(cursor: WalkCursor, account_id: str, secret: str) -> str:
    flags = _CURRENCIES.index(cursor.currency) << 2
    flags |= _HAS_START if cursor.start_ms is not None else 0
    flags |= _HAS_END if cursor.end_ms is not None else 0
    payload = _LAYOUT.pack(
        _TAGGED_VERSION if cursor.tags else _VERSION, flags, cursor.page_size,
        cursor.start_ms or 0, cursor.end_ms or 0,
        cursor.after_ts, cursor.after_id, cursor.snapshot_id, cursor.expires_ms,
    ) + "&".join(f"{key}={value}" for key, value in cursor.tags).encode("ascii")
    token = payload + _mac(payload, account_id, secret)
    return base64.urlsafe_b64encode(token).rstrip(b"=").decode("ascii")


def decode_cursor(token: str, account_id: str, secret: str, now_ms: int) -> WalkCursor:
    """The cursor behind `token`. Raises InvalidInput (on `cursor`) when it is malformed,
    tampered with, signed for another account or under another secret, or expired."""
    raw = _unbase64(token)
    payload, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
    if len(raw) < _LAYOUT.size + _MAC_BYTES or not hmac.compare_digest(
        mac, _mac(payload, account_id, secret)
    ):
        raise InvalidInput.single("cursor", INVALID_MESSAGE)
    version, flags, size, start, end, after_ts, after_id, snapshot, expires = _LAYOUT.unpack(
        payload[: _LAYOUT.size]
    )
    tags = _tags(payload[_LAYOUT.size :])
    if (version, bool(tags)) not in ((_VERSION, False), (_TAGGED_VERSION, True)) \
            or flags >> 2 >= len(_CURRENCIES):
        raise InvalidInput.single("cursor", INVALID_MESSAGE)
    if expires <= now_ms:
        raise InvalidInput.single("cursor", EXPIRED_MESSAGE)
    return WalkCursor(
        currency=_CURRENCIES[flags >> 2],
        start_ms=start if flags & _HAS_START else None,
        end_ms=end if flags & _HAS_END else None,
        page_size=size, after_ts=after_ts, after_id=after_id, snapshot_id=snapshot,
        expires_ms=expires, tags=tags,
    )


def _tags(raw: bytes) -> tuple[tuple[str, str], ...]:
    # Signed by this server, so well formed; read defensively all the same.
    if not raw:
        return ()
    try:
        pairs = [pair.split("=", 1) for pair in raw.decode("ascii").split("&")]
        return tuple((key, value) for key, value in pairs)
    except (UnicodeDecodeError, ValueError):
        raise InvalidInput.single("cursor", INVALID_MESSAGE) from None


def _mac(payload: bytes, account_id: str, secret: str) -> bytes:
    # A key of its own, derived from the service secret, so a MAC made here can never be
    # mistaken for one made elsewhere with the same secret.
    key = hmac.new(secret.encode(), _KEY_LABEL, hashlib.sha256).digest()
    return hmac.new(key, account_id.encode() + b"\x00" + payload, hashlib.sha256).digest()


def _unbase64(token: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput.single("cursor", INVALID_MESSAGE) from exc
