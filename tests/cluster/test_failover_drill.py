"""The failover drill (`make test-cluster`): 3 app hosts behind HAProxy, a PostgreSQL primary
with a synchronous standby under pg_auto_failover, Redis, each in its own network namespace
made by deploy/cluster.sh. Under a recording and reading load it kills an app host, then the
primary's host, then restarts everything, and reconciles every acknowledged event and the
balance after each step. The figures are printed and written to .cluster-drill.json.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from tests.support.cluster_drill import ROOT, SKU, Load, cluster, reconcile

pytestmark = pytest.mark.cluster

WRITES_RESUME_WITHIN = 30.0


def settle(load: Load, seconds: float) -> None:
    time.sleep(seconds)  # let the load run: the drill measures what clients see meanwhile


def app_urls(state: dict[str, Any]) -> list[str]:
    return [f"http://{h['addr']}:{h['port']}" for h in state["hosts"].values()
            if h["role"] == "app" and h["state"] == "up"]


def check(report: dict[str, Any]) -> None:
    assert report["missingCount"] == 0, report
    assert report["repeated"] == 0, report
    assert report["balanceUsd"] == report["expectedUsd"], report


def test_failover_drill() -> None:
    state = cluster("up", timeout=400)
    figures: dict[str, Any] = {}
    try:
        assert sorted(h["role"] for h in state["hosts"].values()) == [
            "app", "app", "app", "lb", "monitor", "pg-primary", "pg-standby", "redis"]
        load = Load(state["url"], state["operatorToken"], state["adminKey"], state["accountId"])
        load.start()
        settle(load, 5)

        killed_app = time.monotonic()
        cluster("kill", "app2")
        settle(load, 8)
        figures["appKill"] = {
            "failedWriteAttempts": sum(1 for t in load.write_failures if t > killed_app),
            "longestWriteGapSeconds": load.longest_write_gap(killed_app, time.monotonic())}

        old_primary = state["primary"]
        cluster("kill", old_primary)
        killed_primary = time.monotonic()  # every process of the host is gone from here on
        resumed = load.wait_for_success_after(killed_primary, 90)
        assert resumed is not None, "writes never resumed after the primary's host died"
        settle(load, 5)
        load.stop()
        figures["primaryKill"] = {
            "secondsUntilWritesResumed": round(resumed - killed_primary, 2),
            "failedWriteAttempts": sum(1 for t in load.write_failures if t > killed_primary)}

        new_primary = next(n for n in ("pg1", "pg2") if n != old_primary)
        assert wait_role(new_primary, "pg-primary", 60), "the standby was not promoted"
        after = cluster("status")
        report = reconcile(app_urls(after), state["adminKey"], load.acknowledged)
        check(report)
        figures["afterFailover"] = report

        cluster("start", "app2")
        cluster("start", old_primary)
        rejoined = wait_role(old_primary, "pg-standby", 120)
        figures["formerPrimaryRejoinedAsStandby"] = rejoined
        everything = ("lb", "app1", "app2", "app3", "redis", "monitor", "pg1", "pg2")
        cluster("kill", *everything)  # a power cut of every host at once
        power_back = time.monotonic()
        cluster("start", *everything)
        wait_writable(load, 180)
        figures["restartEverything"] = {
            "secondsUntilWritable": round(time.monotonic() - power_back, 2)}
        final = reconcile(app_urls(cluster("status")), state["adminKey"], load.acknowledged)
        check(final)
        figures["afterRestartingEverything"] = final
        figures["writeAttemptsFailed"] = len(load.write_failures)
        figures["reads"], figures["readFailures"] = load.reads, load.read_failures
    finally:
        (ROOT / ".cluster-drill.json").write_text(json.dumps(figures, indent=2, default=str))
        print(json.dumps(figures, indent=2, default=str))
        cluster("down")
    assert rejoined, "the former primary did not rejoin as the standby"
    assert figures["primaryKill"]["secondsUntilWritesResumed"] <= WRITES_RESUME_WITHIN, figures


def wait_role(name: str, role: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        host = cluster("status")["hosts"][name]
        if host["role"] == role and host["state"] == "up":
            return True
        time.sleep(1)
    return False


def wait_writable(load: Load, seconds: float) -> None:
    """Record one more event through HAProxy once everything is back (acknowledged like any)."""
    headers = {"Authorization": f"Bearer {load.operator_token}"}
    body = {"events": [{"requestId": "drill-after-restart", "sku": SKU, "units": "0.001",
                        "accountId": load.account_id}]}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            answer = httpx.post(load.url + "/api/v1/usage/events", json=body, headers=headers,
                                timeout=5)
            if answer.status_code == 200:
                load.acknowledged.add("drill-after-restart")
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise AssertionError(f"no write succeeded within {seconds} s of restarting everything")
