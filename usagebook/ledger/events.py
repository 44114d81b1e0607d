"""Usage events as the ledger takes them, and the limits of their values.

One event is one billable line: `(account, request_id, sku)` identifies it in the ledger. The
edges read events off the wire (`usagebook.api.event_wire`, for the endpoint and `usagebook
import`) and check each value against the limits stated here; the rules that need the ledger
(one of key and account, the time window, known SKUs, keys, accounts and holds) are checked by
`ledger.recording`, which reports every problem of every event at once, by path
(`events.<index>.<field>`), before anything is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

MAX_EVENTS = 1000  # per recording call
MAX_UNITS = Decimal(1_000_000_000)  # keeps every amount within SQLite's 64-bit nano-units
MAX_INT32 = 2_147_483_647  # token counts and execution times
MAX_TEXT = 200  # request ids and SKUs
MAX_ID = 40  # key, account and hold ids
MAX_NOTES = 2000

MAX_TAGS = 8
TAG_KEY = r"^[a-z][a-z0-9_]{0,31}$"
TAG_VALUE = r"^[A-Za-z0-9._:@/+-]{1,64}$"
# fullmatch, not the patterns' `$`, which would let a final newline through.
_TAG_KEY = re.compile(TAG_KEY[1:-1])
_TAG_VALUE = re.compile(TAG_VALUE[1:-1])
# Tag filters: (key, value) pairs, sorted by key, each key once; an entry matches when its tags
# hold every pair.
TagFilters = tuple[tuple[str, str], ...]


def tag_key_ok(key: str) -> bool:
    return _TAG_KEY.fullmatch(key) is not None


def tag_value_ok(value: str) -> bool:
    return _TAG_VALUE.fullmatch(value) is not None


# Every field of an Event but `sent` (tests/api/recording/test_event_fast_path.py holds the two
# equal).
FIELDS = frozenset({"request_id", "sku", "units", "api_key_id", "account_id", "ts_ms", "notes",
                    "execution_ms", "prompt_tokens", "completion_tokens", "hold_id", "currency",
                    "tags"})


# Not frozen, for speed (see NewEntry); nothing mutates one after validation.
@dataclass(slots=True)
class Event:
    """A validated event. `sent` names the fields the client sent: a repeat is compared on
    those only (duplicate or conflict)."""

    request_id: str
    sku: str
    units: Decimal
    api_key_id: str | None = None
    account_id: str | None = None
    ts_ms: int | None = None
    notes: str | None = None
    execution_ms: int | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    hold_id: str | None = None
    currency: str | None = None
    tags: str | None = None  # canonical JSON text: equal tags, equal text
    sent: frozenset[str] = FIELDS


class Named(NamedTuple):
    """What an event found invalid names (None where that is not even of the right form): the
    ledger still looks these up, so an unknown SKU, key or account is reported with its other
    problems."""

    sku: str | None
    api_key_id: str | None
    account_id: str | None
