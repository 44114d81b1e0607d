"""PostgreSQL stopped and started under load: while it is down every request gets a 503
StandardError (never a 500, never a hang), the service recovers by itself once it is back, and
no acknowledged event is lost or half-written."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.support.harness import OPERATOR_TOKEN
from tests.support.served import ServerFactory, assert_log_clean, seed_tenant
from tests.support.servers import ScratchPostgres
from tests.support.traffic import Traffic, assert_whole_batches, stored_request_ids, wait_until

pytestmark = pytest.mark.slow  # a real server and real outages: seconds each





def test_postgres_down_is_a_503_and_the_service_recovers(
    scratch_pg: ScratchPostgres, start_server: ServerFactory
) -> None:
    tenant = seed_tenant(scratch_pg.url)
    server = start_server(scratch_pg.url)
    with Traffic(server.base_url, tenant) as traffic:
        wait_until(20, lambda: len(traffic.acknowledged()) >= 20)
        stopping = time.monotonic()
        scratch_pg.stop()
        wait_until(20, lambda: sum(a.status == 503 for a in traffic.answers) >= 6)
        ready = httpx.get(server.base_url + "/readyz", timeout=10)
        assert ready.status_code == 503 and set(ready.json()) == {"error"}
        scratch_pg.start()
        restarted = time.monotonic()
        wait_until(30, lambda: {a.status for a in traffic.writes() if a.at > restarted} >= {200}
                   and {a.status for a in traffic.reads() if a.at > restarted} >= {200})
    assert httpx.get(server.base_url + "/readyz", timeout=10).status_code == 200

    statuses = {a.status for a in traffic.answers}
    assert statuses <= {200, 503}, statuses  # no 500, no dropped connection
    down = [a for a in traffic.answers if a.status == 503]
    assert all(stopping < a.at < restarted + 5 for a in down)
    assert all(a.body == {"error": a.body["error"]} and a.retry_after for a in down)  # type: ignore[index]
    assert {a.status for a in traffic.writes()} == {a.status for a in traffic.reads()} == {200, 503}

    assert_whole_batches(traffic, stored_request_ids(server.base_url, tenant))
    server.stop()
    assert_log_clean(server, tenant.admin_key, OPERATOR_TOKEN)
