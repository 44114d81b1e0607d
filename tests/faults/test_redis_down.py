"""Redis stopped under a running server: every endpoint still answers (the rate limit and the
analytics cache fall back to this process), and nothing is lost when Redis returns."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.support.harness import OPERATOR_TOKEN
from tests.support.served import ServerFactory, assert_log_clean, seed_tenant
from tests.support.servers import ScratchPostgres, ScratchRedis

pytestmark = pytest.mark.slow  # a real server and real outages: seconds each


@pytest.fixture
def scratch_redis() -> Iterator[ScratchRedis]:
    redis = ScratchRedis()
    yield redis
    redis.stop()


def customer_paths(client: httpx.Client) -> list[str]:
    """Every customer GET endpoint the app documents (so new ones are covered as they land)."""
    paths = client.get("/openapi.json").json()["paths"]
    found = [path for path, ops in paths.items() if path.startswith("/api/v1/billing/")
             and "get" in ops]
    assert "/api/v1/billing/usage" in found
    return sorted(found)


def all_answer(client: httpx.Client, paths: list[str], admin: dict[str, str]) -> dict[str, int]:
    statuses = {}
    for path in paths:
        for _ in range(2):  # twice: the second analytics call is a cache lookup
            answer = client.get(path, headers=admin)
            statuses[path] = answer.status_code
            assert answer.headers["x-request-id"]
    for path in ("/healthz", "/readyz", "/metrics"):
        statuses[path] = client.get(path).status_code
    return statuses


def test_everything_answers_while_redis_is_down(
    scratch_pg: ScratchPostgres, scratch_redis: ScratchRedis, start_server: ServerFactory
) -> None:
    tenant = seed_tenant(scratch_pg.url)
    server = start_server(scratch_pg.url, USAGEBOOK_REDIS_URL=scratch_redis.url,
                          USAGEBOOK_RATE_LIMIT_PER_MINUTE="1000")
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        paths = customer_paths(client)
        assert set(all_answer(client, paths, tenant.admin).values()) == {200}
        scratch_redis.stop()
        assert set(all_answer(client, paths, tenant.admin).values()) == {200}
        scratch_redis.start()
        assert set(all_answer(client, paths, tenant.admin).values()) == {200}
    server.stop()
    lines = assert_log_clean(server, tenant.admin_key, OPERATOR_TOKEN)
    fallbacks = [line for line in lines if "counted per process" in json.loads(line)["msg"]]
    assert len(fallbacks) == 1  # logged once per outage, not once per request
    access = [json.loads(line) for line in lines if '"logger":"usagebook.access"' in line]
    assert len(access) >= 3 * (2 * len(paths) + 3)
    assert all(len(line["request_id"]) == 32 and line["route"].startswith("/") for line in access)
