"""The rows the store's modules pass one another: an entry to store, one just stored, one read
back; an API key as stored.

A module of their own, importing nothing of usagebook, so that the write path (`store.write`
and its two implementations), the projections it feeds and the readers can all name them
without importing one another.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any


# Not frozen: recording builds one per event, and a frozen dataclass's __init__ sets every field
# through object.__setattr__, several times the cost (docs/performance.md, "Figures behind
# store/'s design"). Nothing mutates one after it is built.
@dataclass(slots=True)
class NewEntry:
    """A priced entry ready to store: amount and currency are already decided."""

    account_id: str
    api_key_id: str | None
    ts_ms: int
    sku: str
    price_per_unit_usd: Decimal
    units: Decimal
    amount: Decimal
    currency: str
    request_id: str
    notes: str | None = None
    execution_ms: int | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    tags: str | None = None  # canonical JSON text (`api.event_wire.tags_text`)


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """An entry this transaction has just stored, with the id the database gave it."""

    id: int
    entry: NewEntry


# Not frozen, as NewEntry: a page builds hundreds, and a frozen __init__ (one
# object.__setattr__ per field) showed in a page request's server CPU. Nothing mutates one.
@dataclass(slots=True)
class EntryRow:
    """A stored entry as the ledger reads it back."""

    id: int
    ts_ms: int
    sku: str
    price_per_unit_usd: Decimal
    units: Decimal
    amount: Decimal
    currency: str
    notes: str | None
    request_id: str
    execution_ms: int | None
    prompt_tokens: int | None
    completion_tokens: int | None
    api_key_id: str | None = None
    tags: str | None = None


# What an answer shows and a repeat is compared with: an entry read back, or one this
# transaction has just stored (both carry every field the contract's entry has).
EntryFields = EntryRow | NewEntry


@dataclass(frozen=True)
class KeyRow:
    """One key as stored. Limits are per currency class; None = no limit, 0 = nothing allowed."""

    id: str
    account_id: str
    key_type: str
    description: str
    created_ms: int
    revoked_ms: int | None
    expires_ms: int | None
    limit_usd: Decimal | None = None
    limit_diem: Decimal | None = None
    limit_vcu: Decimal | None = None
    limit_period: str = "EPOCH"
    model_privacy: str = "ALL"
    last_used_ms: int | None = None
    last6: str | None = None  # the secret's last six characters


EntryKey = tuple[str, str, str]  # (account id, request id, sku): unique in the ledger


def inserted_ids(
    entries: Sequence[NewEntry], inserted: Iterable[Sequence[Any]]
) -> list[int | None]:
    """Each entry's new id, from the rows an insert returned as (id, account id, request id,
    sku); None for an entry the insert skipped as already stored."""
    ids = {(account_id, request_id, sku): id_ for id_, account_id, request_id, sku in inserted}
    return [ids.pop((e.account_id, e.request_id, e.sku), None) for e in entries]
