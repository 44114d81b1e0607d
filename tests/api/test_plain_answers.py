"""What a newcomer reads in answers: unknown query parameters are named in the
`x-usagebook-ignored-params` header on every endpoint, 400s name each parameter in plain words
(never pydantic's phrases), and the recording 401 says whether recording is disabled."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.harness import OPERATOR_TOKEN, TEST_SECRET, Harness, Tenant
from usagebook.app import create_app
from usagebook.settings import Settings

HEADER = "x-usagebook-ignored-params"
LIBRARY_PHRASES = ("Input should", "Field required", "Value error", "should be", "Extra inputs")


def _get_paths(harness: Harness) -> list[str]:
    described = harness.client.get("/openapi.json").json()["paths"]
    return sorted(path for path, operations in described.items()
                  if "get" in operations and "{" not in path)


def test_every_endpoint_names_the_parameters_it_ignores(harness: Harness, tenant: Tenant) -> None:
    paths = [*_get_paths(harness), "/openapi.json", "/docs"]
    assert "/api/v1/billing/usage-history" in paths and "/healthz" in paths
    for path in paths:
        answer = harness.get(f"{path}?bogusFilter=1&other=&bogusFilter=2", tenant)
        assert answer.headers.get(HEADER) == "bogusFilter,other", (path, answer.status_code)
        assert harness.get(path, tenant).headers.get(HEADER) is None, path
    posted = harness.client.post("/api/v1/usage/events?dryRun=true", json={"events": []},
                                 headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"})
    assert posted.status_code == 400 and posted.headers[HEADER] == "dryRun"


def test_venice_names_are_kept_and_wrong_ones_named(harness: Harness, tenant: Tenant) -> None:
    # usage-history takes startTimestamp and always walks ascending: a newcomer's startDate and
    # sortOrder are ignored, and now visibly so.
    answer = harness.get("/api/v1/billing/usage-history?startDate=2026-01-01T00:00:00Z"
                         "&sortOrder=desc&pageSize=10", tenant)
    assert answer.status_code == 200
    assert answer.headers[HEADER] == "startDate,sortOrder"
    known = harness.get("/api/v1/billing/usage-history?startTimestamp=2026-01-01T00:00:00Z"
                        "&endTimestamp=2026-02-01T00:00:00Z&currency=USD&pageSize=10", tenant)
    assert known.status_code == 200 and HEADER not in known.headers
    usage = harness.get("/api/v1/billing/usage?startDate=2026-01-01T00:00:00Z&sortOrder=asc"
                        "&limit=5&page=1&currency=USD&endDate=2027-01-01T00:00:00Z", tenant)
    assert usage.status_code == 200 and HEADER not in usage.headers


def test_a_hostile_parameter_name_is_quoted(harness: Harness, tenant: Tenant) -> None:
    answer = harness.get("/api/v1/billing/balance?a%0D%0Ab%2Cc=1", tenant)
    assert answer.status_code == 200
    assert answer.headers[HEADER] == "a%0D%0Ab%2Cc"


BAD_QUERIES = [
    "/api/v1/billing/usage-history?pageSize=5",
    "/api/v1/billing/usage-history?pageSize=5000",
    "/api/v1/billing/usage-history?pageSize=ten",
    "/api/v1/billing/usage-history?currency=EUR",
    "/api/v1/billing/usage-history?cursor=not%20a%20cursor",
    "/api/v1/billing/usage-history?startTimestamp=yesterday",
    "/api/v1/billing/usage?limit=0&page=abc&sortOrder=up&currency=EUR",
    "/api/v1/billing/usage-analytics?lookback=7x",
    "/api/v1/billing/usage-analytics?startDate=2026-01-01",
]


def _messages(details: dict[str, Any]) -> list[str]:
    found = list(details.get("_errors", []))
    for key, value in details.items():
        if key != "_errors":
            found += _messages(value)
    return found


@pytest.mark.parametrize("path", BAD_QUERIES)
def test_bad_parameters_are_described_plainly(harness: Harness, tenant: Tenant, path: str) -> None:
    answer = harness.get(path, tenant)
    assert answer.status_code == 400, answer.text
    messages = _messages(answer.json()["details"])
    assert messages
    for message in messages:
        assert not any(phrase in message for phrase in LIBRARY_PHRASES), message
        assert message[0].islower() or message[0].isdigit(), message


def test_page_size_bounds_in_plain_words(harness: Harness, tenant: Tenant) -> None:
    details = harness.get("/api/v1/billing/usage-history?pageSize=5", tenant).json()["details"]
    assert details["pageSize"]["_errors"] == ["must be at least 10"]
    details = harness.get("/api/v1/billing/usage-history?currency=EUR", tenant).json()["details"]
    assert details["currency"]["_errors"] == ["must be USD, DIEM or BUNDLED_CREDITS"]


def test_bad_events_are_described_plainly(harness: Harness, tenant: Tenant) -> None:
    body = {"events": [{"requestId": 5, "sku": "llama-3.3-70b-llm-input-mtoken", "units": "1",
                        "accountId": tenant.account_id, "promptTokens": 1.5, "colour": "red"},
                       {"sku": "llama-3.3-70b-llm-input-mtoken", "units": "1",
                        "accountId": tenant.account_id}]}
    answer = harness.client.post("/api/v1/usage/events", content=json.dumps(body),
                                 headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"})
    assert answer.status_code == 400
    events = answer.json()["details"]["events"]
    assert events["0"]["requestId"]["_errors"] == ["must be text"]
    assert events["0"]["promptTokens"]["_errors"] == ["must be a whole number"]
    assert events["0"]["colour"]["_errors"] == ["is not a known field"]
    assert events["1"]["requestId"]["_errors"] == ["is required"]


def test_the_recording_401_says_when_recording_is_disabled(tmp_path: Path) -> None:
    settings = Settings.from_env({}, database_url=f"sqlite:///{tmp_path}/off.db",
                                 secret_key=TEST_SECRET)
    from usagebook.store.migrate import upgrade

    upgrade(settings.database_url)
    with TestClient(create_app(settings)) as client:
        answer = client.post("/api/v1/usage/events", json={"events": []},
                             headers={"Authorization": "Bearer anything-at-all"})
    assert answer.status_code == 401
    assert answer.json() == {"error": "Recording is disabled on this server: it was started "
                                      "without USAGEBOOK_OPERATOR_TOKEN"}


@pytest.mark.parametrize("token", ["", "not-the-token", OPERATOR_TOKEN[:-1]])
def test_a_wrong_token_is_never_described(harness: Harness, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer = harness.client.post("/api/v1/usage/events", json={"events": []}, headers=headers)
    assert answer.status_code == 401
    assert answer.json() == {"error": "Invalid or missing operator token"}
    assert OPERATOR_TOKEN not in answer.text
