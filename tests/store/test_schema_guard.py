"""Many hosts starting at once migrate one at a time, and a host refuses a schema that is not
its own (newer than its code, or older when told not to migrate) with one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import sqlalchemy

from tests.support.harness import TEST_SECRET
from usagebook.settings import normalise_database_url
from usagebook.store.migrate import code_revision, database_revision, upgrade

USAGEBOOK = str(Path(sys.executable).parent / "usagebook")
# This checkout's code, whichever checkout the virtualenv's editable install points at.
ENV = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
       "USAGEBOOK_SECRET_KEY": TEST_SECRET}


def usagebook(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([USAGEBOOK, *args, "--database-url", url], text=True,
                          capture_output=True, timeout=120, check=False,
                          env=ENV)


def test_hosts_starting_at_once_migrate_one_at_a_time(fresh_postgres: str) -> None:
    hosts = [subprocess.Popen([USAGEBOOK, "migrate", "--database-url", fresh_postgres],
                              text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=ENV)
             for _ in range(5)]
    outcomes = [(host.communicate(timeout=120)[1], host.returncode) for host in hosts]
    assert [code for _, code in outcomes] == [0] * 5, outcomes
    assert database_revision(normalise_database_url(fresh_postgres)) == code_revision()


def test_a_newer_schema_is_refused_before_serving(fresh_url: str) -> None:
    upgrade(normalise_database_url(fresh_url))
    _force_revision(fresh_url, "9999")
    for command in (["serve", "--port", "1"], ["migrate"]):
        done = usagebook(*command, url=fresh_url)
        assert done.returncode == 1, done
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("FAILED: "), done.stderr
        assert "9999" in lines[0] and "newer" in lines[0], lines


def test_an_older_schema_is_refused_without_migrating(fresh_url: str) -> None:
    upgrade(normalise_database_url(fresh_url), "0003")
    done = usagebook("serve", "--no-migrate", "--port", "1", url=fresh_url)
    assert done.returncode == 1, done
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "usagebook migrate" in lines[0], done.stderr
    assert database_revision(normalise_database_url(fresh_url)) == "0003"


def _force_revision(url: str, revision: str) -> None:
    import asyncio

    from sqlalchemy.ext.asyncio import create_async_engine

    async def force() -> None:
        engine = create_async_engine(normalise_database_url(url))
        async with engine.begin() as conn:
            await conn.execute(sqlalchemy.text("UPDATE alembic_version SET version_num = :v"),
                               {"v": revision})
        await engine.dispose()

    asyncio.run(force())
