"""The shared benchmark dataset: a big account (5,000,000 entries unless told otherwise) on
PostgreSQL, built once, reused.

    from bench.dataset import ensure_bench_account
    dataset = ensure_bench_account()          # builds on first use (a few minutes), then instant
    dataset = ensure_bench_account(entries=1_000_000)   # another size: its own database
    dataset.database_url, dataset.account_id, dataset.admin_key, dataset.secret_key

or from a shell: `python -m bench.dataset [--entries N]` (prints the JSON below; `--rebuild`
starts over). bench/hotpath.py and bench/paging.py take `--entries N` and pass it here;
USAGEBOOK_BENCH_DATABASE and USAGEBOOK_BENCH_ENTRIES set the default database name and size.

What it holds: a dedicated database `usagebook_bench` (`usagebook_bench_<N>` for another size)
on 127.0.0.1:5432 (never the shared `test` database) with the demo SKU catalog, one big account
of N entries spread over the last
90 days (busier towards today, LLM requests as Input/Output/Cache entries sharing a request id,
about 2% recorded late: up to 24 h before the entries recorded around them, so ids are not in
timestamp order), six API keys on it, and two small accounts of 20,000 entries each. The
account id, an ADMIN key's secret and the signing secret a server needs are kept in
`bench/results/dataset.json` (`dataset-<N>.json`; gitignored). Autovacuum is off on these
machines, so every build ends with VACUUM ANALYZE: the planner sees the loaded tables.

How it is loaded: COPY, then the migrations' own backfill. The database is migrated to revision
0001 (the bare ledger), accounts and keys are inserted as 0001 has them, entries are COPYed
straight into `usage_entries` with its secondary indexes dropped (and rebuilt afterwards,
identically), and only then is it upgraded to head, so
every projection (balances, count buckets, rollups) is built by its own migration's backfill
from the stored entries, exactly as on a real upgrade. This is about 10x faster than
`write_batch` with its ON CONFLICT and per-batch projections, and it also proves the
backfills on a big ledger.

Reuse: the JSON file records a fingerprint of each migration file. When one changes, the
database is downgraded to the revision before it and upgraded to head again (those projections
rebuilt by their own backfills); if that fails, the whole dataset is rebuilt. A file lock
keeps two processes from building it at once.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import os
import random
import secrets
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg

from usagebook.ledger.catalog import DEMO_CATALOG, upsert_catalog
from usagebook.ledger.ids import new_id
from usagebook.ledger.keys import SECRET_PREFIX, hash_secret
from usagebook.money import charge_amount
from usagebook.settings import Settings
from usagebook.store.engine import create_database
from usagebook.store.migrate import MIGRATIONS, alembic_config, upgrade
from usagebook.timeutil import MS_PER_DAY, now_ms

ROOT = Path(__file__).resolve().parents[1]
SERVER_URL = "postgresql://127.0.0.1:5432"
RESULTS = ROOT / "bench" / "results"
BIG_ENTRIES = 5_000_000
# Another name (and size) for a dataset of one's own, so that parallel work never drops it.
NAMED = os.environ.get("USAGEBOOK_BENCH_DATABASE")
DEFAULT_ENTRIES = int(os.environ.get("USAGEBOOK_BENCH_ENTRIES", str(BIG_ENTRIES)))
SMALL_ENTRIES = 20_000
DAYS = 90
CHUNK = 100_000
LATE_SHARE = 0.02
KEY_DESCRIPTIONS = ("Production chat", "Image studio", "Batch summariser", "Voice assistant", "")
CURRENCIES = ("DIEM", "USD", "BUNDLED_CREDITS")
CURRENCY_WEIGHTS = (50, 35, 15)
COLUMNS = ("account_id", "api_key_id", "ts_ms", "sku", "price_per_unit_usd", "units", "amount",
           "currency", "notes", "request_id", "execution_ms", "prompt_tokens",
           "completion_tokens")
# Secondary indexes of 0001, dropped for the load and rebuilt with the same names afterwards.
INDEXES = {
    "uq_usage_entries_account_id_request_id_sku":
        "ALTER TABLE usage_entries ADD CONSTRAINT uq_usage_entries_account_id_request_id_sku "
        "UNIQUE (account_id, request_id, sku)",
    "ix_usage_entries_account_ts":
        "CREATE INDEX ix_usage_entries_account_ts ON usage_entries (account_id, ts_ms, id)",
    "ix_usage_entries_account_currency_ts":
        "CREATE INDEX ix_usage_entries_account_currency_ts "
        "ON usage_entries (account_id, currency, ts_ms, id)",
}


@dataclass(frozen=True)
class BenchDataset:
    """Where the benchmark data lives and how to reach the big account over HTTP."""

    database_url: str
    account_id: str
    admin_key: str
    secret_key: str
    entries: int
    small_account_ids: list[str]
    built_ms: int
    migrations: str


def database_name(entries: int = DEFAULT_ENTRIES) -> str:
    """USAGEBOOK_BENCH_DATABASE (default usagebook_bench) for the default size; other sizes
    get their own database beside it."""
    base = NAMED or "usagebook_bench"
    if entries == DEFAULT_ENTRIES and (NAMED or entries == BIG_ENTRIES):
        return base
    return f"{base}_{entries}"


def database_url(entries: int = DEFAULT_ENTRIES) -> str:
    return f"{SERVER_URL}/{database_name(entries)}"


def _dataset_file(entries: int) -> Path:
    name = database_name(entries)
    return RESULTS / ("dataset.json" if name == "usagebook_bench" else f"dataset-{name}.json")


def entries_option(argv: list[str], default: int = DEFAULT_ENTRIES) -> int:
    """`--entries N` from a benchmark's command line (underscores allowed: 1_000_000)."""
    if "--entries" not in argv:
        return default
    entries = int(argv[argv.index("--entries") + 1].replace("_", ""))
    if entries < 1000:
        raise SystemExit("--entries must be at least 1000")
    return entries


def ensure_bench_account(*, rebuild: bool = False,
                         entries: int = DEFAULT_ENTRIES) -> BenchDataset:
    """The dataset of `entries` entries, built on first use (or with `rebuild`) and reused
    afterwards. Synchronous: call it before starting an event loop. Progress goes to stderr."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    with (RESULTS / f"{database_name(entries)}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = None if rebuild else _load(entries)
        if found is not None and asyncio.run(_is_intact(found)) and (
            found.migrations == _fingerprint() or _remigrate(found)
        ):
            return found
        return _build(entries)


def _load(entries: int) -> BenchDataset | None:
    try:
        return BenchDataset(**json.loads(_dataset_file(entries).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _save(dataset: BenchDataset) -> None:
    path = _dataset_file(dataset.entries)
    path.write_text(json.dumps(asdict(dataset), indent=2) + "\n")
    path.chmod(0o600)


def _fingerprint() -> str:
    """`<revision>:<hash>` per migration file, so a change re-runs only from that revision."""
    parts = []
    for path in sorted((MIGRATIONS / "versions").glob("[0-9]*.py")):
        parts.append(f"{path.name.split('_')[0]}:{hashlib.sha256(path.read_bytes()).hexdigest()[:12]}")
    return ",".join(parts)


def _first_changed(recorded: str) -> str:
    """The revision to downgrade to: the one before the first migration that changed."""
    before = dict(part.split(":") for part in recorded.split(",") if ":" in part)
    now = [part.split(":") for part in _fingerprint().split(",")]
    previous = "0001"
    for revision, digest in now:
        if revision != "0001" and before.get(revision) != digest:
            return previous
        previous = revision
    return previous


def _settings(dataset_secret: str, url: str) -> Settings:
    return Settings.from_env({}, database_url=url, secret_key=dataset_secret)


async def _is_intact(dataset: BenchDataset) -> bool:
    try:
        conn = await asyncpg.connect(dataset.database_url, timeout=10)
    except (OSError, asyncpg.PostgresError):
        return False
    try:
        count = await conn.fetchval(
            "SELECT count(*) FROM usage_entries WHERE account_id = $1", dataset.account_id)
    except asyncpg.PostgresError:
        return False
    finally:
        await conn.close()
    return bool(count == dataset.entries)


def _remigrate(dataset: BenchDataset) -> bool:
    """Rebuild every projection with its own migration after a migration file changed."""
    from alembic import command

    target = _first_changed(dataset.migrations)
    _say(f"migrations changed: downgrading to {target} and upgrading to head again")
    url = _settings(dataset.secret_key, dataset.database_url).database_url
    try:
        command.downgrade(alembic_config(url), target)
        upgrade(url)
    except Exception as exc:  # a broken downgrade of any revision: rebuild from scratch
        _say(f"re-migration failed ({type(exc).__name__}: {exc}); rebuilding")
        return False
    asyncio.run(_analyze(dataset.database_url))
    _save(BenchDataset(**{**asdict(dataset), "migrations": _fingerprint()}))
    return True


def _build(entries: int) -> BenchDataset:
    started = time.monotonic()
    secret = secrets.token_urlsafe(32)
    raw_url = database_url(entries)
    asyncio.run(_recreate_database(database_name(entries)))
    url = _settings(secret, raw_url).database_url
    upgrade(url, "0001")
    made = asyncio.run(_load_entries(secret, raw_url, entries))
    _say(f"entries loaded in {time.monotonic() - started:.0f} s; rebuilding indexes")
    asyncio.run(_rebuild_indexes(raw_url))
    # Saved before the projections exist: if a migration fails, the next call resumes here
    # (as after a migration change) instead of loading the entries again.
    loaded = BenchDataset(raw_url, made["account_id"], made["admin_key"], secret,
                          entries, made["small"], now_ms(), "at-0001")
    _save(loaded)
    _say(f"upgrading to head (projection backfills) at {time.monotonic() - started:.0f} s")
    upgrade(url)
    asyncio.run(_analyze(raw_url))
    dataset = BenchDataset(**{**asdict(loaded), "migrations": _fingerprint()})
    _save(dataset)
    _say(f"dataset ready in {time.monotonic() - started:.0f} s")
    return dataset


async def _recreate_database(name: str) -> None:
    conn = await asyncpg.connect(f"{SERVER_URL}/postgres", timeout=10)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _load_entries(secret: str, url: str, entries: int) -> dict[str, Any]:
    """Accounts, keys and the catalog through the ledger; entries by COPY (no projections yet:
    the migrations to head build them)."""
    db = create_database(_settings(secret, url))
    try:
        await upsert_catalog(db, DEMO_CATALOG)
    finally:
        await db.dispose()
    conn = await asyncpg.connect(url, timeout=10)
    try:
        big = await _account_at_0001(conn, f"Bench: {entries:,} entries")
        admin_secret, _ = await _key_at_0001(conn, big, "ADMIN", "Bench admin")
        key_ids: list[str | None] = [None]
        for description in KEY_DESCRIPTIONS:
            key_ids.append((await _key_at_0001(conn, big, "INFERENCE", description))[1])
        small = [await _account_at_0001(conn, f"Bench: small {n}") for n in (1, 2)]
        for name in INDEXES:
            drop = "ALTER TABLE usage_entries DROP CONSTRAINT" if name.startswith("uq_") \
                else "DROP INDEX"
            await conn.execute(f"{drop} {name}")
        end = now_ms() - 60_000
        no_key: list[str | None] = [None]
        for account_id, count, seed, keys in ((big, entries, 1, key_ids),
                                              (small[0], SMALL_ENTRIES, 2, no_key),
                                              (small[1], SMALL_ENTRIES, 3, no_key)):
            await _copy(conn, _entries(account_id, count, keys, end, random.Random(seed)), count)
    finally:
        await conn.close()
    return {"account_id": big, "admin_key": admin_secret, "small": small}


# Accounts and keys are written as revision 0001 has them (later revisions add columns with
# defaults), since the ledger's own functions write the columns of head.
async def _account_at_0001(conn: asyncpg.Connection, name: str) -> str:
    account_id = new_id("acct")
    await conn.execute("INSERT INTO accounts (id, name, created_ms) VALUES ($1, $2, $3)",
                       account_id, name, now_ms())
    return account_id


async def _key_at_0001(conn: asyncpg.Connection, account_id: str, key_type: str,
                       description: str) -> tuple[str, str]:
    """(secret, key id) of a new key."""
    key_id, secret = new_id("key"), SECRET_PREFIX + secrets.token_urlsafe(32)
    await conn.execute(
        "INSERT INTO api_keys (id, account_id, key_type, description, secret_hash, created_ms) "
        "VALUES ($1, $2, $3, $4, $5, $6)", key_id, account_id, key_type, description,
        hash_secret(secret), now_ms())
    return secret, key_id


async def _copy(conn: asyncpg.Connection, rows: Iterator[tuple[Any, ...]], count: int) -> None:
    done = 0
    while done < count:
        chunk = [next(rows) for _ in range(min(CHUNK, count - done))]
        await conn.copy_records_to_table("usage_entries", records=chunk, columns=COLUMNS)
        done += len(chunk)
        if done % 1_000_000 == 0 or done == count:
            _say(f"  {done:,} / {count:,} entries")


def _entries(account_id: str, count: int, key_ids: list[str | None], end: int,
             rng: random.Random) -> Iterator[tuple[Any, ...]]:
    """Entries in roughly recording order: timestamps rise with the id, except the late ones."""
    start = end - DAYS * MS_PER_DAY
    requests = _requests(rng)
    produced = 0
    # Request moments, sorted so ids follow time (a few come late, below); busier towards today.
    moments = sorted(start + int((rng.random() ** 0.7) * (end - start)) for _ in range(count))
    while produced < count:
        ts = moments[produced]
        if rng.random() < LATE_SHARE:  # recorded late: its timestamp lies up to 24 h back
            ts -= rng.randrange(MS_PER_DAY)
        request_id = f"req_{rng.getrandbits(64):016x}"
        key_id = rng.choice(key_ids)
        currency = rng.choices(CURRENCIES, CURRENCY_WEIGHTS)[0]
        execution_ms = rng.randint(80, 9000)
        for sku, price, units, amount, prompt, completion in rng.choice(requests):
            if produced >= count:
                return
            produced += 1
            yield (account_id, key_id, ts, sku, price, units, amount, currency, None,
                   request_id, execution_ms, prompt, completion)


def _requests(rng: random.Random) -> list[list[tuple[Any, ...]]]:
    """A pool of priced requests (each one to three entries) to draw from: computing Decimal
    amounts once per pool item, not per entry, keeps generation fast."""
    by_model: dict[str, list[Any]] = {}
    for sku in DEMO_CATALOG:
        by_model.setdefault(sku.model_id, []).append(sku)
    pool = []
    chosen: list[tuple[Any, Decimal, int | None, int | None]]
    for _ in range(20_000):
        skus = rng.choice(list(by_model.values()))
        if skus[0].model_type == "LLM":
            prompt = int(rng.lognormvariate(7, 1.1)) + 1
            completion = int(rng.lognormvariate(5.5, 1.0)) + 1
            counts = {"Input": prompt, "Output": completion, "Cache Read": prompt // 2,
                      "Cache Write": prompt // 4}
            chosen = [(s, Decimal(counts[s.usage_type]).scaleb(-6), prompt, completion)
                      for s in skus if not s.usage_type.startswith("Cache") or rng.random() < 0.3]
        else:
            chosen = [(rng.choice(skus), _units(skus[0].model_type, rng), None, None)]
        pool.append([(s.sku, s.price_per_unit_usd, units, charge_amount(s.price_per_unit_usd,
                      units), prompt, completion) for s, units, prompt, completion in chosen])
    return pool


def _units(model_type: str, rng: random.Random) -> Decimal:
    if model_type in ("ASR", "VIDEO"):
        return Decimal(rng.randint(1, 600)) / 10  # minutes or seconds, to a tenth
    if model_type in ("TTS", "EMBEDDING"):
        return Decimal(rng.randint(40, 8000)).scaleb(-6)  # priced per million
    return Decimal(rng.choice((1, 1, 1, 2, 4)))  # images


async def _rebuild_indexes(url: str) -> None:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        await conn.execute("SET maintenance_work_mem = '512MB'")
        for statement in INDEXES.values():
            await conn.execute(statement)
    finally:
        await conn.close()


async def _analyze(url: str) -> None:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main() -> None:
    entries = entries_option(sys.argv)
    dataset = ensure_bench_account(rebuild="--rebuild" in sys.argv[1:], entries=entries)
    print(json.dumps({"databaseUrl": dataset.database_url, "accountId": dataset.account_id,
                      "adminKey": dataset.admin_key, "entries": dataset.entries,
                      "file": str(_dataset_file(entries).relative_to(ROOT))}))


if __name__ == "__main__":
    main()
