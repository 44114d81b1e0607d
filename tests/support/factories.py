"""Building ledger data for tests through the store's one write path."""

from __future__ import annotations

import random
from decimal import Decimal

from usagebook.ledger.catalog import DEMO_CATALOG
from usagebook.money import charge_amount
from usagebook.store.engine import Database
from usagebook.store.rows import NewEntry
from usagebook.store.write import write_batch
from usagebook.timeutil import now_ms

CURRENCIES = ("USD", "DIEM", "BUNDLED_CREDITS")


def random_entries(
    account_id: str, count: int, *, seed: int = 1, span_ms: int = 30 * 86_400_000,
    end_ms: int | None = None, key_ids: tuple[str | None, ...] = (None,),
) -> list[NewEntry]:
    """`count` priced entries spread over `span_ms` before `end_ms`, in shuffled time order,
    with repeated timestamps so that ties (ordered by id) are exercised."""
    rng = random.Random(seed)
    end = end_ms if end_ms is not None else now_ms()
    stamps = [end - rng.randrange(span_ms) for _ in range(max(1, count // 3))]
    made = []
    for index in range(count):
        sku = rng.choice(DEMO_CATALOG)
        units = Decimal(rng.randint(1, 5_000_000)).scaleb(-rng.choice((0, 3, 6, 9)))
        made.append(NewEntry(
            account_id=account_id, api_key_id=rng.choice(key_ids), ts_ms=rng.choice(stamps),
            sku=sku.sku, price_per_unit_usd=sku.price_per_unit_usd, units=units,
            amount=charge_amount(sku.price_per_unit_usd, units),
            currency=rng.choice(CURRENCIES), request_id=f"req-{seed}-{index}",
            notes=rng.choice((None, "API Inference", "=SUM(A1)", 'say "hi", ok')),
            execution_ms=rng.choice((None, rng.randint(1, 9000))),
            prompt_tokens=rng.choice((None, rng.randint(0, 100_000))),
            completion_tokens=rng.choice((None, rng.randint(0, 10_000))),
        ))
    return made


async def store_entries(db: Database, entries: list[NewEntry]) -> list[int | None]:
    async with db.write() as conn:
        return await write_batch(conn, entries)
