"""PostgreSQL's implementation of `store.write.write_batch`: a batch of entries and every
projection in one statement.

The batch travels as one JSON parameter (orjson writes it in C, where 13 array parameters
would go through asyncpg's per-element encoding in Python), is inserted (with ON CONFLICT DO
NOTHING unless the caller knows the entries are new), and the rows actually inserted
(RETURNING) feed data-modifying CTEs that add them to the balances, the count buckets and the
daily rollups: one round trip, and no Python loop over the batch for the sums.
`store.write_sqlite` does the same in Python for SQLite, which has no data-modifying CTEs;
it is the reference this statement must equal (see `store.write`), and
tests/store/test_projections.py holds both to a recomputation from the stored entries.

Every projection row's key starts with the account, and every writer holds the account's lock
(`account_allocations(lock=True)`) before it writes, so two statements never contend for the
same projection rows; each CTE still feeds its rows in key order, as the SQLite path does.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from usagebook.store.pg_alerts import ALERT_CTES
from usagebook.store.rows import NewEntry, inserted_ids

# Floored (not truncated) hour and day starts, as Python's % and migration 0003 compute them.
_HOUR = "(ts_ms - (((ts_ms % 3600000) + 3600000) % 3600000))"
_DAY = "(ts_ms - (((ts_ms % 86400000) + 86400000) % 86400000))"
_COLUMNS = (
    "account_id varchar, api_key_id varchar, ts_ms bigint, sku varchar, "
    "price_per_unit_usd numeric, units numeric, amount numeric, currency varchar, "
    "request_id varchar, notes text, execution_ms int, prompt_tokens int, completion_tokens int, "
    "tags text"
)
_NAMES = (
    "account_id, api_key_id, ts_ms, sku, price_per_unit_usd, units, amount, currency, "
    "request_id, notes, execution_ms, prompt_tokens, completion_tokens, tags"
)


_QUARTER = "(ts_ms - (((ts_ms % 900000) + 900000) % 900000))"
# The rollups are summed from `fine` (the batch per quarter hour, currency, key and SKU: a
# few dozen rows for a batch of 1000), not each from the stored rows again. A day or hour
# start is the floor of its quarter hours' starts.
_FINE = (
    f"SELECT account_id, {_QUARTER} AS quarter_ms, currency, coalesce(api_key_id, '') AS key, "
    "sku, sum(amount) AS amount, sum(units) AS units FROM stored GROUP BY 1, 2, 3, 4, 5"
)
_GRAINS = {grain: f"(quarter_ms - (((quarter_ms % {size}) + {size}) % {size}))"
           for grain, size in (("day", 86400000), ("six_hour", 21600000), ("hour", 3600000),
                               ("half_hour", 1800000))} | {
    "quarter": "quarter_ms",
    # Hours that start at half past: floored from half past (revision 0015).
    "half_past_hour": "(quarter_ms - ((((quarter_ms - 1800000) % 3600000) + 3600000) % 3600000))",
    # Six hours from half past (00:30, 06:30, 12:30, 18:30 UTC; revision 0016).
    "half_past_six_hour":
        "(quarter_ms - ((((quarter_ms - 1800000) % 21600000) + 21600000) % 21600000))",
}
# Each rollup's extra key columns and the values that fill them from `fine`.
_DIMENSIONS = {
    "currency": ((), ()),
    "sku": (("sku",), ("sku",)),
    "key": (("api_key_id",), ("key",)),
    "key_sku": (("api_key_id", "sku"), ("key", "sku")),
}


def _rollup(grain: str, dimension: str) -> str:
    extra, values = _DIMENSIONS[dimension]
    table = f"rollup_{grain}_{'key' if dimension == 'key_sku' else dimension}"
    keys = ", ".join(("account_id", f"{grain}_ms", "currency", *extra))
    positions = ", ".join(str(n) for n in range(1, 4 + len(extra)))
    return (
        f"INSERT INTO {table} AS t ({keys}, amount, units) "
        f"SELECT account_id, {_GRAINS[grain]}, currency{''.join(', ' + v for v in values)}, "
        f"sum(amount), sum(units) FROM fine GROUP BY {positions} ORDER BY {positions} "
        f"ON CONFLICT ({keys}) DO UPDATE SET amount = t.amount + excluded.amount, "
        "units = t.units + excluded.units"
    )


# (CTE name, grain, dimension): the day rollups, per hour and per quarter hour, then the six-hour
# and half-hour ones (revision 0014; their key rollups without the SKU, as the day's).
_ROLLUPS = (
    ("by_currency", "day", "currency"), ("by_sku", "day", "sku"), ("by_key", "day", "key"),
    *((f"{grain}_{dimension}", grain, "key_sku" if dimension == "key" else dimension)
      for grain in ("hour", "quarter") for dimension in ("currency", "sku", "key")),
    *((f"{grain}_{dimension}", grain, dimension)
      for grain in ("six_hour", "half_hour") for dimension in ("sku", "key")),
    ("half_past_hour_sku", "half_past_hour", "sku"),
    ("half_past_six_hour_sku", "half_past_six_hour", "sku"),
)
_ROLLUP_CTES = "".join(f", {name} AS (\n    {_rollup(grain, dimension)}\n)"
                       for name, grain, dimension in _ROLLUPS)


# One row per tag of each tagged entry; untagged entries (the usual kind) cost a NULL test.
_TAG_ROLLUP = (
    "INSERT INTO rollup_quarter_tag AS t (account_id, quarter_ms, tag_key, tag_value, currency, "
    f"sku, amount, units) SELECT account_id, {_QUARTER}, tag.key, tag.value, currency, sku, "
    "sum(amount), sum(units) FROM stored CROSS JOIN LATERAL json_each_text(stored.tags::json) "
    "AS tag WHERE stored.tags IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6 "
    "ON CONFLICT (account_id, quarter_ms, tag_key, tag_value, currency, sku) DO UPDATE SET "
    "amount = t.amount + excluded.amount, units = t.units + excluded.units"
)
# The ledger's idempotency key (account, request_id, sku) lives apart from the partitioned
# entries (store.partitions): an entry is stored only once its key is claimed there, with the
# id it will have.
UNIQUE_ENTRY = "pk_usage_request_keys"

_WRITE_BATCH = f"""
WITH batch AS (
    SELECT * FROM json_to_recordset($1::json) AS e({_COLUMNS})
), claimed AS (
    INSERT INTO usage_request_keys (account_id, request_id, sku, entry_id, ts_ms)
    SELECT account_id, request_id, sku, nextval('usage_entries_id_seq'), ts_ms FROM batch
    {{on_conflict}}
    RETURNING account_id, request_id, sku, entry_id
), stored AS (
    INSERT INTO usage_entries (id, {_NAMES})
    SELECT c.entry_id, {", ".join("b." + name for name in _NAMES.split(", "))}
    FROM batch AS b JOIN claimed AS c USING (account_id, request_id, sku)
    RETURNING id, account_id, api_key_id, ts_ms, sku, units, amount, currency, request_id, tags
), balances AS (
    INSERT INTO account_balances AS t (account_id, currency, granted, consumed)
    SELECT account_id, currency, 0, -sum(amount) FROM stored WHERE currency <> 'DIEM'
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (account_id, currency) DO UPDATE SET consumed = t.consumed + excluded.consumed
    RETURNING account_id, currency, granted - consumed AS balance
), {ALERT_CTES}, diem AS (
    INSERT INTO diem_days AS t (account_id, day, consumed)
    SELECT account_id, ({_DAY} / 86400000)::int, -sum(amount) FROM stored
    WHERE currency = 'DIEM' GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (account_id, day) DO UPDATE SET consumed = t.consumed + excluded.consumed
), hours AS (
    INSERT INTO usage_count_buckets AS t (account_id, hour_ms, currency, entries)
    SELECT account_id, {_HOUR}, currency, count(*) FROM stored GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (account_id, hour_ms, currency) DO UPDATE SET entries = t.entries + excluded.entries
), days AS (
    INSERT INTO usage_count_days AS t (account_id, day_ms, currency, entries)
    SELECT account_id, {_DAY}, currency, count(*) FROM stored GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (account_id, day_ms, currency) DO UPDATE SET entries = t.entries + excluded.entries
), fine AS (
    {_FINE}
){_ROLLUP_CTES}, by_tag AS (
    {_TAG_ROLLUP}
)
SELECT array_agg(id), array_agg(account_id), array_agg(request_id), array_agg(sku) FROM stored
"""
# ON CONFLICT costs the database more per entry than a plain INSERT (a speculative insertion
# on the unique index): the plain one is for callers that know the entries are new.
WRITE_BATCH = _WRITE_BATCH.format(on_conflict="")
WRITE_BATCH_IDEMPOTENT = _WRITE_BATCH.format(
    on_conflict="ON CONFLICT (account_id, request_id, sku) DO NOTHING"
)


async def write_batch(
    conn: AsyncConnection, entries: Sequence[NewEntry], *, idempotent: bool
) -> list[int | None]:
    """Insert the entries and project them; returns each entry's new id (None: already
    stored). `idempotent` skips entries already stored; without it one raises the unique
    constraint's IntegrityError (UNIQUE_ENTRY) and the transaction is lost."""
    # Every NewEntry field is a str, int or None, which orjson writes itself, except the three
    # Decimals: `str` writes those as JSON strings, which json_to_recordset reads with numeric's
    # own input function, so no float ever sees them. (A C callable: a Python `default` would
    # run once per Decimal.)
    batch = entries
    if len({(e.account_id, e.request_id, e.sku) for e in entries}) < len(entries):
        # A key twice in one batch would join its one claim to both rows: keep the first (as
        # ON CONFLICT did on the unpartitioned table; recording never sends a key twice).
        firsts: dict[tuple[str, str, str], NewEntry] = {}
        for entry in entries:
            firsts.setdefault((entry.account_id, entry.request_id, entry.sku), entry)
        batch = list(firsts.values())
    payload = orjson.dumps(batch, default=str).decode()
    statement = WRITE_BATCH_IDEMPOTENT if idempotent else WRITE_BATCH
    result = await conn.exec_driver_sql(statement, (payload,))
    # One row of four arrays: decoded by asyncpg in C, where 1000 rows cost a Python tuple each.
    ids, accounts, request_ids, skus = tuple(result.one())
    if not ids:
        return [None] * len(entries)
    return inserted_ids(entries, zip(ids, accounts, request_ids, skus, strict=True))
