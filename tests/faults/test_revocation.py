"""A revoked key is refused by every server process from 5 s after the revocation returns: two
real `usagebook serve --workers 2` processes on one PostgreSQL, with Redis shared between them
and without Redis, the key revoked from a third process (the CLI), as an operator would.

Each process keeps the keys it has read for a few seconds (`usagebook.store.keycache`), so the
test first makes every process read the key, and asserts nothing before the 5 s the contract
allows."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.support.harness import Tenant
from tests.support.served import SECRET_KEY, seed_tenant, server_env
from tests.support.servers import ScratchPostgres, ScratchRedis, UsagebookServer

pytestmark = pytest.mark.slow  # real servers, and the contract's 5 s

CONTRACT_SECONDS = 5.0
URL = "/api/v1/billing/balance"
# Each request on a new connection, so the workers of a server share them out.
REQUESTS_PER_SERVER = 12


@pytest.fixture(params=["redis", "no-redis"])
def redis_url(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "no-redis":
        yield ""
        return
    redis = ScratchRedis()
    yield redis.url
    redis.stop()


def statuses(server: UsagebookServer, tenant: Tenant) -> set[int]:
    return {httpx.get(server.base_url + URL, headers=tenant.admin, timeout=10).status_code
            for _ in range(REQUESTS_PER_SERVER)}


def revoke_from_the_cli(database_url: str, redis_url: str, key_id: str) -> None:
    env = {**os.environ, "USAGEBOOK_SECRET_KEY": SECRET_KEY, "USAGEBOOK_REDIS_URL": redis_url}
    done = subprocess.run(
        [sys.executable, "-c", "from usagebook.cli import main; main()", "keys", "revoke",
         key_id, "--database-url", database_url], env=env, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_a_revoked_key_is_refused_everywhere_5_s_after(
    scratch_pg: ScratchPostgres, redis_url: str, tmp_path: Path
) -> None:
    tenant = seed_tenant(scratch_pg.url)
    env = server_env(scratch_pg.url, USAGEBOOK_REDIS_URL=redis_url)
    servers = [UsagebookServer(env, tmp_path / f"server-{n}.log", args=("--workers", "2"))
               for n in range(2)]
    try:
        with ThreadPoolExecutor(len(servers)) as starting:  # both at once: each takes seconds
            list(starting.map(lambda server: server.start(timeout=120), servers))
        for server in servers:  # every process has now read, and cached, the key
            assert statuses(server, tenant) == {200}
        revoke_from_the_cli(scratch_pg.url, redis_url, tenant.admin_key_id)
        returned = time.monotonic()
        time.sleep(max(0.0, returned + CONTRACT_SECONDS - time.monotonic()))
        for server in servers:
            assert statuses(server, tenant) == {401}
    finally:
        for server in servers:
            server.stop()
