"""Realistic demo data: an account, its keys, the catalog, credit, and N entries over the last
90 days, recorded oldest first through the recording path (`recording.record`, as a backfill),
so the demo's currencies follow the consumption order and its balances reconcile."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from usagebook.ledger.accounts import create_account
from usagebook.ledger.balances import grant_credit, set_diem_allocation
from usagebook.ledger.catalog import DEMO_CATALOG, upsert_catalog
from usagebook.ledger.events import Event
from usagebook.ledger.keys import KeyType, create_key
from usagebook.ledger.recording import record
from usagebook.money import MILLION_PLACES
from usagebook.store.engine import Database
from usagebook.store.skus import SkuRow
from usagebook.timeutil import MS_PER_DAY, now_ms

BATCH = 5_000
DAYS = 90
KEY_DESCRIPTIONS = ("Production chat", "Image studio", "Batch summariser", "Voice assistant", "")
# The demo spends about 2 USD a day 90 days ago, rising to about 40 today: a daily DIEM
# allocation covers the quiet early days, bundled credits and a USD top-up the rest.
DIEM_PER_DAY = "10"
GRANTS = (("USD", "2500", "Prepaid credit (invoice INV-0001)"),
          ("BUNDLED_CREDITS", "250", "Bundled with the Pro plan"),
          ("USD", "-25", "Adjustment: duplicate top-up fee refunded"))


_FIELDS = frozenset({"request_id", "sku", "units", "api_key_id", "account_id", "ts_ms",
                     "execution_ms", "prompt_tokens", "completion_tokens"})


@dataclass(frozen=True)
class DemoAccount:
    account_id: str
    admin_key: str
    inference_key: str
    entries: int
    admin_key_id: str
    inference_key_id: str


async def create_demo(
    db: Database, entries: int, progress: Callable[[int], None] | None = None, seed: int = 7
) -> DemoAccount:
    """Create a demo account with keys and `entries` entries; `progress` gets each batch's size."""
    await upsert_catalog(db, DEMO_CATALOG)
    account = await create_account(db, "Demo account")
    admin = await create_key(db, account.id, KeyType.ADMIN, "Demo admin key")
    inference = await create_key(db, account.id, KeyType.INFERENCE, "Demo inference key")
    key_ids: list[str | None] = [inference.row.id, None]  # None: usage without a key (Web App)
    for description in KEY_DESCRIPTIONS:
        key_ids.append((await create_key(db, account.id, KeyType.INFERENCE, description)).row.id)
    await set_diem_allocation(db, account.id, DIEM_PER_DAY)
    for currency, amount, note in GRANTS:
        await grant_credit(db, account.id, currency, amount, note)
    # Oldest first, so each day's DIEM and the credit run out in the order they would have.
    events = sorted(_generate(account.id, key_ids, entries, random.Random(seed)),
                    key=lambda event: event.ts_ms or 0)
    for start in range(0, len(events), BATCH):
        batch = events[start : start + BATCH]
        await record(db, batch, backfill=True)
        if progress:
            progress(len(batch))
    return DemoAccount(account.id, admin.secret, inference.secret, entries,
                       admin.row.id, inference.row.id)


def _generate(
    account_id: str, key_ids: list[str | None], count: int, rng: random.Random
) -> Iterator[Event]:
    """Entries whose request ids, token counts and prices look like real inference traffic.
    An LLM request yields an Input and an Output entry (and sometimes a Cache Read one)."""
    end = now_ms() - 60_000
    start = end - DAYS * MS_PER_DAY
    by_model: dict[str, list[SkuRow]] = {}
    for sku in DEMO_CATALOG:
        by_model.setdefault(sku.model_id, []).append(sku)
    models = list(by_model)
    model_weights = [12 if by_model[m][0].model_type == "LLM" else 3 for m in models]
    produced = 0
    while produced < count:
        model = rng.choices(models, model_weights)[0]
        ts = start + int((rng.random() ** 0.7) * (end - start))  # busier towards today
        request_id = f"req_{rng.getrandbits(64):016x}"
        key_id = rng.choice(key_ids)
        execution_ms = rng.randint(80, 9000)
        for sku, units, tokens in _usage(by_model[model], rng):
            if produced >= count:
                return
            produced += 1
            # Built without validation: the generator's own values are known to be valid.
            yield Event(
                request_id=request_id, sku=sku.sku, units=units,
                api_key_id=key_id, account_id=None if key_id else account_id, ts_ms=ts,
                notes=None, execution_ms=execution_ms, prompt_tokens=tokens[0],
                completion_tokens=tokens[1], currency=None, sent=_FIELDS,
            )


def _usage(
    skus: list[SkuRow], rng: random.Random
) -> Iterator[tuple[SkuRow, Decimal, tuple[int | None, int | None]]]:
    kind = skus[0].model_type
    if kind == "LLM":
        prompt = int(rng.lognormvariate(7, 1.1)) + 1
        completion = int(rng.lognormvariate(5.5, 1.0)) + 1
        counts = {"Input": prompt, "Output": completion,
                  "Cache Read": prompt // 2, "Cache Write": prompt // 4}
        for sku in skus:
            if sku.usage_type.startswith("Cache") and rng.random() < 0.7:
                continue
            units = Decimal(counts[sku.usage_type]).scaleb(-MILLION_PLACES)
            yield sku, units, (prompt, completion)
    elif kind == "TTS":
        yield skus[0], Decimal(rng.randint(40, 4000)).scaleb(-MILLION_PLACES), (None, None)
    elif kind in ("ASR", "VIDEO"):
        yield skus[0], Decimal(rng.randint(1, 600)) / 10, (None, None)
    elif kind == "EMBEDDING":
        yield skus[0], Decimal(rng.randint(8, 8000)).scaleb(-MILLION_PLACES), (None, None)
    else:
        yield rng.choice(skus), Decimal(rng.choice((1, 1, 1, 2, 4))), (None, None)
