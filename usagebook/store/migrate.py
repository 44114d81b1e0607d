"""Create or upgrade the schema with Alembic, configured in code (no alembic.ini needed).

Many hosts may start at once against one PostgreSQL: `upgrade` runs its migrations under a
session advisory lock (see migrations/env.py), so one host migrates while the others wait and
then find nothing left to do. A database whose schema this code does not know (a newer
release migrated it) is refused before anything is run.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from usagebook.secrets_file import create_sqlite_file

MIGRATIONS = Path(__file__).parent / "migrations"

# pg_advisory_lock key held while migrating: any fixed 64-bit number, the same in every release.
MIGRATION_LOCK = 0x75736167_65626F6B  # "usagebok"
CONNECT_TIMEOUT_SECONDS = 5.0  # Settings.db_connect_timeout_seconds, when not given


class SchemaMismatch(RuntimeError):
    """The database's schema is not the one this code was written for; the message says how."""


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def code_revision() -> str:
    """The newest schema revision this code knows."""
    head = ScriptDirectory.from_config(alembic_config("")).get_current_head()
    assert head is not None, "the migrations folder has no head"
    return head


def connect_args(database_url: str, connect_timeout_seconds: float) -> dict[str, float]:
    """Connecting is bounded: a stalled server fails the command instead of hanging it."""
    if database_url.startswith("postgresql+asyncpg"):
        return {"timeout": connect_timeout_seconds}
    return {}


def database_revision(database_url: str,
                      connect_timeout_seconds: float = CONNECT_TIMEOUT_SECONDS) -> str | None:
    """The revision the database is at (None for an empty database). Synchronous."""
    async def read() -> str | None:
        engine = create_async_engine(
            database_url, poolclass=NullPool,
            connect_args=connect_args(database_url, connect_timeout_seconds))
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(_current_revision)
        finally:
            await engine.dispose()

    return asyncio.run(read())


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def check_schema(database_url: str, *, allow_older: bool,
                 connect_timeout_seconds: float = CONNECT_TIMEOUT_SECONDS) -> None:
    """Raise SchemaMismatch when the database is newer than this code, or older unless
    `allow_older` (an upgrade is about to run)."""
    current = database_revision(database_url, connect_timeout_seconds)
    head = code_revision()
    known = {script.revision for script in ScriptDirectory.from_config(
        alembic_config("")).walk_revisions()}
    if current is not None and current not in known:
        raise SchemaMismatch(
            f"the database schema is at revision {current}, newer than this code knows "
            f"(its newest is {head}): run the release that migrated it")
    if current != head and not allow_older:
        raise SchemaMismatch(
            f"the database schema is at revision {current or 'none'} but this code needs "
            f"{head}: run `usagebook migrate`")


def upgrade(database_url: str, revision: str = "head",
            connect_timeout_seconds: float = CONNECT_TIMEOUT_SECONDS) -> None:
    """Bring the database to `revision`, refusing a schema newer than this code. Synchronous:
    call it before an event loop starts. Connecting is bounded (a stalled server fails the
    migration, not hangs it); statements are not (a migration may rewrite a large table)."""
    create_sqlite_file(database_url)
    check_schema(database_url, allow_older=True, connect_timeout_seconds=connect_timeout_seconds)
    config = alembic_config(database_url)
    config.attributes["connect_timeout_seconds"] = connect_timeout_seconds
    command.upgrade(config, revision)
