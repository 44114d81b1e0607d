"""The server SIGKILLed while events are being recorded: after a restart every acknowledged
event is there exactly once, and no batch is half-written (a batch is one transaction)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support.harness import OPERATOR_TOKEN
from tests.support.served import ServerFactory, assert_log_clean, seed_tenant
from tests.support.servers import ScratchPostgres
from tests.support.traffic import Traffic, assert_whole_batches, stored_request_ids, wait_until

pytestmark = pytest.mark.slow  # a real server and real outages: seconds each


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_killed_server_keeps_every_acknowledged_event(
    backend: str, scratch_pg: ScratchPostgres, start_server: ServerFactory, tmp_path: Path
) -> None:
    url = scratch_pg.url if backend == "postgresql" else f"sqlite:///{tmp_path / 'kill.db'}"
    tenant = seed_tenant(url)
    server = start_server(url)
    with Traffic(server.base_url, tenant, writers=3, batch_size=20) as traffic:
        wait_until(20, lambda: len(traffic.acknowledged()) >= 200)
        server.kill()
        killed = time.monotonic()
        wait_until(10, lambda: any(a.status is None and a.at > killed for a in traffic.writes()))
    acknowledged = traffic.acknowledged()
    assert {a.status for a in traffic.writes()} == {200, None}  # answers, then a dead server

    restarted = start_server(url)
    stored = stored_request_ids(restarted.base_url, tenant)
    assert_whole_batches(traffic, stored)
    assert len(stored) >= len(acknowledged) >= 200
    restarted.stop()
    assert_log_clean(restarted, tenant.admin_key, OPERATOR_TOKEN)
