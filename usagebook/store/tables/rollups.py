"""Analytics rollups: the entries' sums per day, six hours, hour, half hour and quarter hour, by
dimension."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, String, Table

from usagebook.store.tables.metadata import metadata
from usagebook.store.types import Money

# Daily analytics rollups, one narrow table per dimension (a wide day x model x key rollup was
# too slow for a large account). `day_ms` is the UTC day's first epoch ms; sums are of the
# entries' own amounts (negative for charges) and ledger units. Kept by `store.rollups`.
rollup_day_currency = Table(
    "rollup_day_currency",
    metadata,
    Column("account_id", String(40), primary_key=True),
    Column("day_ms", BigInteger, primary_key=True),
    Column("currency", String(16), primary_key=True),
    Column("amount", Money, nullable=False),
    Column("units", Money, nullable=False),
)

rollup_day_sku = Table(
    "rollup_day_sku",
    metadata,
    Column("account_id", String(40), primary_key=True),
    Column("day_ms", BigInteger, primary_key=True),
    Column("currency", String(16), primary_key=True),
    Column("sku", String(200), primary_key=True),
    Column("amount", Money, nullable=False),
    Column("units", Money, nullable=False),
)

rollup_day_key = Table(
    "rollup_day_key",
    metadata,
    Column("account_id", String(40), primary_key=True),
    Column("day_ms", BigInteger, primary_key=True),
    Column("currency", String(16), primary_key=True),
    # '' stands for usage without a key (a primary key column cannot be NULL).
    Column("api_key_id", String(40), primary_key=True),
    Column("amount", Money, nullable=False),
    Column("units", Money, nullable=False),
    # One key's rows by day: its spend in a limit window (revision 0005).
    Index("ix_rollup_day_key_account_key_day", "account_id", "api_key_id", "day_ms"),
)

# --- Hour and quarter-hour rollups (revision 0008) ---------------------------------------------
# The daily rollups' sums per UTC hour and quarter hour: local days and hours of every zone are
# whole quarter hours (`store.bucket_sums` adds the grains up). The key rollups also carry the
# SKU, so that a key's units can be counted in each SKU's unit type.


def _grain_rollup(name: str, column: str, *extra: Column[str]) -> Table:
    return Table(
        name,
        metadata,
        Column("account_id", String(40), primary_key=True),
        Column(column, BigInteger, primary_key=True, autoincrement=False),
        Column("currency", String(16), primary_key=True),
        *extra,
        Column("amount", Money, nullable=False),
        Column("units", Money, nullable=False),
    )


def _key_columns() -> tuple[Column[str], Column[str]]:
    # '' stands for usage without a key, as in rollup_day_key.
    return (Column("api_key_id", String(40), primary_key=True),
            Column("sku", String(200), primary_key=True))


rollup_hour_currency = _grain_rollup("rollup_hour_currency", "hour_ms")
rollup_hour_sku = _grain_rollup("rollup_hour_sku", "hour_ms",
                                Column("sku", String(200), primary_key=True))
rollup_hour_key = _grain_rollup("rollup_hour_key", "hour_ms", *_key_columns())
rollup_quarter_currency = _grain_rollup("rollup_quarter_currency", "quarter_ms")
rollup_quarter_sku = _grain_rollup("rollup_quarter_sku", "quarter_ms",
                                   Column("sku", String(200), primary_key=True))
rollup_quarter_key = _grain_rollup("rollup_quarter_key", "quarter_ms", *_key_columns())

# --- Six-hour and half-hour rollups (revision 0014) ---------------------------------------------
# The edge between a UTC midnight and a local one is a few of these rows, where hours and quarters
# took many: a Kolkata midnight (18:30 UTC) is six hours from 18:00 less a half hour. The key
# rollups here are without the SKU, like rollup_day_key (spend per key, not units).
rollup_six_hour_sku = _grain_rollup("rollup_six_hour_sku", "six_hour_ms",
                                    Column("sku", String(200), primary_key=True))
rollup_six_hour_key = _grain_rollup("rollup_six_hour_key", "six_hour_ms",
                                    Column("api_key_id", String(40), primary_key=True))
rollup_half_hour_sku = _grain_rollup("rollup_half_hour_sku", "half_hour_ms",
                                     Column("sku", String(200), primary_key=True))
rollup_half_hour_key = _grain_rollup("rollup_half_hour_key", "half_hour_ms",
                                     Column("api_key_id", String(40), primary_key=True))

# --- Hours from half past, per SKU (revision 0015) ---------------------------------------------
# `half_past_hour_ms` is the first ms of an hour that starts at half past a UTC hour: each local
# hour of a +05:30 (or -03:30, +09:30, ...) zone is one of these rows, where it was two half hours.
rollup_half_past_hour_sku = _grain_rollup("rollup_half_past_hour_sku", "half_past_hour_ms",
                                          Column("sku", String(200), primary_key=True))

# --- Six hours from half past, per SKU (revision 0016) -----------------------------------------
# `half_past_six_hour_ms` is the first ms of six hours from 00:30, 06:30, 12:30 or 18:30 UTC:
# a +05:30 zone's local day (18:30 to 18:30 UTC) is four of these rows, each read by one day.
rollup_half_past_six_hour_sku = _grain_rollup(
    "rollup_half_past_six_hour_sku", "half_past_six_hour_ms",
    Column("sku", String(200), primary_key=True))

# Per quarter hour, tag key and value, currency and SKU (revision 0009): an entry with n tags
# adds to n rows. Entries without a key's tag have no row for it (the `null` group is the rest).
rollup_quarter_tag = Table(
    "rollup_quarter_tag",
    metadata,
    Column("account_id", String(40), primary_key=True),
    Column("quarter_ms", BigInteger, primary_key=True, autoincrement=False),
    Column("tag_key", String(32), primary_key=True),
    Column("tag_value", String(64), primary_key=True),
    Column("currency", String(16), primary_key=True),
    Column("sku", String(200), primary_key=True),
    Column("amount", Money, nullable=False),
    Column("units", Money, nullable=False),
)
