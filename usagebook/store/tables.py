"""The schema, as SQLAlchemy Core tables. Migrations in `migrations/versions` create the same.

Times are integer epoch milliseconds (UTC): one exact, sortable representation on both
backends, and the unit the contract's timestamps are written in. Money columns use `Money`.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from usagebook.store.types import BigId, ExactSum, Money

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    # Today's DIEM allocation (resets every UTC day); NULL when the account has none.
    Column("diem_allocation", Money, nullable=True),
    # Account-level limits on spend per UTC calendar month (revision 0007); NULL = none.
    Column("monthly_limit_usd", Money, nullable=True),
    Column("monthly_limit_diem", Money, nullable=True),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(40), ForeignKey("accounts.id"), nullable=False, index=True),
    Column("key_type", String(16), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("secret_hash", String(64), nullable=False, unique=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("revoked_ms", BigInteger, nullable=True),
    Column("expires_ms", BigInteger, nullable=True),
    # Spending limits per currency class (revision 0005); NULL = no limit, 0 = none allowed.
    Column("consumption_limit_usd", Money, nullable=True),
    Column("consumption_limit_diem", Money, nullable=True),
    Column("consumption_limit_vcu", Money, nullable=True),
    # The limits' window: EPOCH (the UTC day), MONTH (the UTC calendar month) or LIFETIME.
    Column("limit_period", String(16), nullable=False, server_default="EPOCH"),
    Column("model_privacy", String(16), nullable=False, server_default="ALL"),
    Column("last_used_ms", BigInteger, nullable=True),
    # The secret's last six characters (revision 0006; NULL for keys made before it).
    Column("secret_last6", String(6), nullable=True),
)

skus = Table(
    "skus",
    metadata,
    Column("sku", String(200), primary_key=True),
    Column("model_id", String(200), nullable=False),
    Column("model_name", String(200), nullable=False),
    Column("model_type", String(16), nullable=False),
    Column("unit_type", String(16), nullable=False),
    # How many of unit_type one ledger unit is (1,000,000 for a per-million-tokens SKU).
    Column("unit_type_per_unit", Money, nullable=False),
    Column("usage_type", String(40), nullable=False),
    Column("price_per_unit_usd", Money, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)

usage_entries = Table(
    "usage_entries",
    metadata,
    # Server-assigned, increasing: the tie-breaker of the ledger order (ts_ms, id).
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("account_id", String(40), nullable=False),
    Column("api_key_id", String(40), nullable=True),
    Column("ts_ms", BigInteger, nullable=False),
    Column("sku", String(200), nullable=False),
    Column("price_per_unit_usd", Money, nullable=False),
    Column("units", Money, nullable=False),
    Column("amount", Money, nullable=False),
    Column("currency", String(16), nullable=False),
    Column("notes", Text, nullable=True),
    Column("request_id", String(200), nullable=False),
    Column("execution_ms", Integer, nullable=True),
    Column("prompt_tokens", Integer, nullable=True),
    Column("completion_tokens", Integer, nullable=True),
    # Up to 8 tags as canonical JSON text (keys sorted, compact), NULL for none (revision 0009).
    Column("tags", Text, nullable=True),
    UniqueConstraint("account_id", "request_id", "sku"),
    Index("ix_usage_entries_account_ts", "account_id", "ts_ms", "id"),
    Index("ix_usage_entries_account_currency_ts", "account_id", "currency", "ts_ms", "id"),
    # One key's, or one SKU's, entries in ledger order (revision 0011); the key's index holds
    # the SKU too, so a key and a model together are counted from it alone.
    Index("ix_usage_entries_account_key_ts", "account_id", "api_key_id", "ts_ms", "id", "sku"),
    Index("ix_usage_entries_account_sku_ts", "account_id", "sku", "ts_ms", "id"),
)

# PostgreSQL only (revision 0012, `store.partitions`): there `usage_entries` is partitioned by
# month of ts_ms, its primary key is (account_id, ts_ms, id) and it has no other unique key;
# this table holds the ledger's idempotency key for every entry ever stored, archived ones
# included.
usage_request_keys = Table(
    "usage_request_keys",
    metadata,
    Column("account_id", String(40), primary_key=True),
    Column("request_id", String(200), primary_key=True),
    Column("sku", String(200), primary_key=True),
    Column("entry_id", BigInteger, nullable=False),
    Column("ts_ms", BigInteger, nullable=False),
)

# --- Recording and balances (revision 0002) ---------------------------------------------------
# Balances are projections over entries: `consumed` moves only in apply_projections, in the same
# transaction as the entries it counts, so balance = granted - consumed = grants - charges, exactly.

credit_grants = Table(
    "credit_grants",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("account_id", String(40), ForeignKey("accounts.id"), nullable=False),
    Column("currency", String(16), nullable=False),
    # Positive adds credit; negative is an adjustment. The note says why (refund, promotion...).
    Column("amount", Money, nullable=False),
    Column("notes", Text, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    Index("ix_credit_grants_account_created", "account_id", "created_ms", "id"),
)

account_balances = Table(
    "account_balances",
    metadata,
    Column("account_id", String(40), primary_key=True),
    # USD or BUNDLED_CREDITS; DIEM is an allocation per UTC day (diem_days).
    Column("currency", String(16), primary_key=True),
    Column("granted", ExactSum, nullable=False),
    # The exact sum of -amount over the account's entries in this currency.
    Column("consumed", ExactSum, nullable=False),
)

diem_days = Table(
    "diem_days",
    metadata,
    Column("account_id", String(40), primary_key=True),
    # UTC day number (ts_ms // 86,400,000) of the entries counted: DIEM resets every UTC day.
    Column("day", Integer, primary_key=True, autoincrement=False),
    Column("consumed", ExactSum, nullable=False),
)

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

# --- Rate-limit refusals (revision 0005) -------------------------------------------------------
# The newest refusals of each account's keys by the per-key rate limit (`store.ratelimit_log`
# keeps at most the last 50 per account).
rate_limit_log = Table(
    "rate_limit_log",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("account_id", String(40), nullable=False),
    Column("api_key_id", String(40), nullable=False),
    Column("model_id", String(200), nullable=False),
    Column("rate_limit_tier", String(40), nullable=False),
    Column("rate_limit_type", String(16), nullable=False),
    Column("ts_ms", BigInteger, nullable=False),
    Index("ix_rate_limit_log_account_id_id", "account_id", "id"),
)

# --- Count buckets (revision 0003) -------------------------------------------------------------
# How many entries each account has per (currency, UTC hour): exact totals and deep pages sum
# these instead of counting entries. Kept by `store.counts` in the write path's transaction.
usage_count_buckets = Table(
    "usage_count_buckets",
    metadata,
    Column("account_id", String(40), primary_key=True),
    # The first epoch ms of the UTC hour: ts_ms - ts_ms mod 3,600,000 (floored). Before the
    # currency in the key, so a time range is one index range with or without a currency.
    Column("hour_ms", BigInteger, primary_key=True, autoincrement=False),
    Column("currency", String(16), primary_key=True),
    Column("entries", BigInteger, nullable=False),
)

# The same per UTC day, so that a total or a deep page reads one row per day, not 24.
usage_count_days = Table(
    "usage_count_days",
    metadata,
    Column("account_id", String(40), primary_key=True),
    Column("day_ms", BigInteger, primary_key=True, autoincrement=False),
    Column("currency", String(16), primary_key=True),
    Column("entries", BigInteger, nullable=False),
)

# --- Admission: holds and overspend (revision 0007) -------------------------------------------
# A hold reserves an estimated cost for one inference call (POST /usage/authorize) until it is
# settled by recording or expires. Live = not settled and expires_ms > now: expiry needs no job,
# every query compares with the current time. Written only under the account's lock.
holds = Table(
    "holds",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(40), nullable=False),
    Column("api_key_id", String(40), nullable=False),
    Column("currency", String(16), nullable=False),
    Column("amount", Money, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("expires_ms", BigInteger, nullable=False),
    Column("settled_ms", BigInteger, nullable=True),
    # The caller's requestId (authorize is idempotent per key and requestId) and a digest of the
    # estimate it was granted for: a repeat with another estimate is a conflict.
    Column("request_id", String(200), nullable=True),
    Column("fingerprint", String(64), nullable=True),
    UniqueConstraint("api_key_id", "request_id"),
    # The live holds of an account: unsettled ones, by expiry (a range from now on).
    Index("ix_holds_account_live", "account_id", "expires_ms",
          postgresql_where=text("settled_ms IS NULL"), sqlite_where=text("settled_ms IS NULL")),
)

# Recorded cost beyond what holds had authorized, per account and UTC calendar month (its first
# epoch ms), by limit class: `usd` (USD and BUNDLED_CREDITS) and `diem`. Added to when a
# recording settles a hold with more than it held, or names a hold no longer live.
overspend_months = Table(
    "overspend_months",
    metadata,
    Column("account_id", String(40), primary_key=True),
    Column("month_ms", BigInteger, primary_key=True, autoincrement=False),
    Column("usd", ExactSum, nullable=False),
    Column("diem", ExactSum, nullable=False),
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

# --- Alerts and webhooks (revision 0010) -------------------------------------------------------
# Settings per account; crossing state, whose unique key makes "one event per threshold per key
# (or account), currency and period" a database guarantee; the outbox of events, written in the
# transaction of the entries that caused them; endpoints, what each subscribes to, and one
# delivery row per (endpoint, event), which the delivery workers claim.
alert_settings = Table(
    "alert_settings",
    metadata,
    Column("account_id", String(40), primary_key=True),
    # Percentages of each key's limits, comma-separated and ascending, e.g. "50,80,100".
    Column("key_thresholds", String(400), nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)

alert_balance_thresholds = Table(
    "alert_balance_thresholds",
    metadata,
    Column("account_id", String(40), primary_key=True),
    Column("currency", String(16), primary_key=True),
    # account.balance.low fires once when the balance falls below this amount.
    Column("threshold", Money, nullable=False),
)

alert_crossings = Table(
    "alert_crossings",
    metadata,
    Column("account_id", String(40), primary_key=True),
    # '' for an account-level crossing (a primary key column cannot be NULL).
    Column("api_key_id", String(40), primary_key=True),
    # balance.low, key.limit, account.limit, key.reset, key.expiring
    Column("kind", String(40), primary_key=True),
    Column("currency", String(16), primary_key=True),
    # A percentage (limits), an amount (balance.low) or days before expiry (key.expiring).
    Column("threshold", Money, primary_key=True),
    # The limit period's first epoch ms (0 where there is no period).
    Column("period_start_ms", BigInteger, primary_key=True, autoincrement=False),
    Column("created_ms", BigInteger, nullable=False),
)

alert_events = Table(
    "alert_events",
    metadata,
    # evt_...: the webhook-id of every delivery of this event, retries and replays included.
    Column("id", String(40), primary_key=True),
    Column("account_id", String(40), nullable=False),
    Column("type", String(60), nullable=False),
    Column("api_key_id", String(40), nullable=True),
    Column("currency", String(16), nullable=True),
    Column("threshold", Money, nullable=True),
    # The balance (balance.low) or the period's usage (limit events).
    Column("amount", ExactSum, nullable=True),
    Column("limit_amount", Money, nullable=True),
    Column("limit_period", String(16), nullable=True),
    Column("period_start_ms", BigInteger, nullable=True),
    Column("expires_ms", BigInteger, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    Index("ix_alert_events_account_created", "account_id", "created_ms"),
)

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(40), ForeignKey("accounts.id"), nullable=False, index=True),
    Column("url", Text, nullable=False),
    Column("description", Text, nullable=True),
    Column("enabled", Boolean, nullable=False),
    Column("secret", String(100), nullable=False),
    # After a rotation the previous secret also signs until previous_expires_ms.
    Column("previous_secret", String(100), nullable=True),
    Column("previous_expires_ms", BigInteger, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
)

webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    # Keyed by account and type first: the write path finds an event's endpoints in one probe.
    Column("account_id", String(40), primary_key=True),
    Column("event_type", String(60), primary_key=True),
    Column("endpoint_id", String(40), ForeignKey("webhook_endpoints.id"), primary_key=True),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("endpoint_id", String(40), ForeignKey("webhook_endpoints.id"), nullable=False),
    Column("event_id", String(40), ForeignKey("alert_events.id"), nullable=False),
    Column("status", String(16), nullable=False),  # pending | delivered | failed
    Column("attempts", Integer, nullable=False),
    # When a pending delivery is due; while an attempt is in flight, when its lease ends (a
    # server killed mid-attempt leaves it to be claimed again then, with the same webhook-id).
    Column("next_attempt_ms", BigInteger, nullable=True),
    # Who holds the lease: a finished attempt is written only by the claim it belongs to.
    Column("claim", String(40), nullable=True),
    Column("response_status", Integer, nullable=True),
    Column("duration_ms", Integer, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    UniqueConstraint("endpoint_id", "event_id"),
    Index("ix_webhook_deliveries_endpoint_created", "endpoint_id", "created_ms", "id"),
    Index("ix_webhook_deliveries_status_next", "status", "next_attempt_ms"),
)
