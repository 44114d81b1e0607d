"""Requests with a missing, unknown or revoked key are limited per client address before the
key is looked up (429 with Retry-After), so guessing keys costs the guesser, not the database.
The client address is the TCP peer, or the nearest untrusted X-Forwarded-For entry when the
peer is a trusted proxy."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.support.harness import OPERATOR_TOKEN, TEST_SECRET, Harness, Tenant, make_settings
from tests.support.recording import OPERATOR
from tests.support.servers import UsagebookServer
from tests.support.stall import bounded
from usagebook.app import create_app

USAGE = "/api/v1/billing/usage"
LIMIT = 4


def guess() -> dict[str, str]:
    return {"Authorization": "Bearer ubk_" + secrets.token_urlsafe(32)}


@pytest.fixture
def guarded(harness: Harness, database_urls: dict[str, str]) -> Iterator[TestClient]:
    settings = make_settings(database_urls[harness.backend], failed_auth_per_minute=LIMIT,
                             db_statement_timeout_seconds=3)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def test_guessing_keys_is_limited_per_address(guarded: TestClient, tenant: Tenant) -> None:
    statuses = [guarded.get(USAGE, headers=headers).status_code
                for headers in [guess(), {}, guess(), {"Authorization": "Bearer x"}]]
    assert statuses == [401] * LIMIT
    refused = guarded.get(USAGE, headers=guess())
    assert refused.status_code == 429 and set(refused.json()) == {"error"}
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    # Blocked before any lookup: a real key from the same address waits out the window too,
    # and a forged X-Forwarded-For (no proxy is trusted) does not get around it.
    assert guarded.get(USAGE, headers=tenant.admin).status_code == 429
    spoofed = {**guess(), "X-Forwarded-For": "198.51.100.7"}
    assert guarded.get(USAGE, headers=spoofed).status_code == 429


def test_valid_keys_and_wrong_kinds_do_not_count(guarded: TestClient, tenant: Tenant) -> None:
    inference = {"Authorization": f"Bearer {tenant.inference_key}"}
    for _ in range(2 * LIMIT):
        assert guarded.get(USAGE, headers=tenant.admin).status_code == 200
        assert guarded.get(USAGE, headers=inference).status_code == 401  # valid key, wrong kind
    assert guarded.get(USAGE, headers=guess()).status_code == 401


# Shown with a lock on the keys table, which SQLite readers do not wait on.
@pytest.mark.parametrize("harness", ["postgresql"], indirect=True)
def test_a_blocked_address_never_reaches_the_database(
    harness: Harness, guarded: TestClient, pg_lock: Callable[[str], None],
) -> None:
    for _ in range(LIMIT + 1):
        guarded.get(USAGE, headers=guess())
    pg_lock("api_keys")  # a lookup would now wait for the lock, then answer 503
    for _ in range(3):
        assert bounded(lambda: guarded.get(USAGE, headers=guess())).status_code == 429


def test_unknown_secrets_relayed_to_authorize_count_per_end_customer(
    guarded: TestClient,
) -> None:
    def authorize(client_address: str) -> int:
        body = {"apiKey": "ubk_" + secrets.token_urlsafe(32), "estimate": {"amount": "0.01"},
                "clientAddress": client_address}
        answer = guarded.post("/api/v1/usage/authorize", json=body, headers=OPERATOR)
        return answer.status_code

    assert [authorize("203.0.113.9") for _ in range(LIMIT + 1)] == [401] * LIMIT + [429]
    assert authorize("203.0.113.10") == 401  # another customer of the same gateway


@pytest.fixture(scope="module")
def behind_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UsagebookServer]:
    folder = tmp_path_factory.mktemp("proxy")
    server = UsagebookServer({
        "USAGEBOOK_DATABASE_URL": f"sqlite:///{folder}/p.db", "USAGEBOOK_SECRET_KEY": TEST_SECRET,
        "USAGEBOOK_OPERATOR_TOKEN": OPERATOR_TOKEN, "USAGEBOOK_FAILED_AUTH_PER_MINUTE": "2",
        "USAGEBOOK_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8",
    }, folder / "server.log")
    server.start()
    yield server
    server.stop()


def statuses(server: UsagebookServer, forwarded: str, count: int) -> list[int]:
    headers = {**guess(), "X-Forwarded-For": forwarded}
    return [httpx.get(server.base_url + USAGE, headers=headers).status_code for _ in range(count)]


def test_behind_a_trusted_proxy_the_forwarded_client_is_counted(
    behind_proxy: UsagebookServer,
) -> None:
    assert statuses(behind_proxy, "203.0.113.5", 3) == [401, 401, 429]
    assert statuses(behind_proxy, "203.0.113.6", 2) == [401, 401]  # another client
    # The nearest untrusted entry counts: 10.0.0.9 is a trusted hop, 203.0.113.5 the client
    # (whatever it wrote itself in front).
    assert statuses(behind_proxy, "1.2.3.4, 203.0.113.5, 10.0.0.9", 1) == [429]
    assert statuses(behind_proxy, "203.0.113.7, 10.0.0.9", 2) == [401, 401]


def test_the_limit_is_a_setting(tmp_path: Path) -> None:
    from usagebook.settings import Settings, SettingsError

    env = {"USAGEBOOK_SECRET_KEY": TEST_SECRET, "USAGEBOOK_DATABASE_URL": f"sqlite:///{tmp_path}/s.db"}
    assert Settings.from_env(env).failed_auth_per_minute == 60
    found = Settings.from_env({**env, "USAGEBOOK_FAILED_AUTH_PER_MINUTE": "0",
                               "USAGEBOOK_TRUSTED_PROXIES": "10.0.0.1,2001:db8::/32"})
    assert found.failed_auth_per_minute == 0
    assert found.trusted_proxies == ("10.0.0.1", "2001:db8::/32")
    for bad in ({"USAGEBOOK_FAILED_AUTH_PER_MINUTE": "-1"}, {"USAGEBOOK_TRUSTED_PROXIES": "proxy"}):
        with pytest.raises(SettingsError):
            Settings.from_env({**env, **bad})


def _unused(_: Any) -> None:
    pass
