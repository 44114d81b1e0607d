"""Webhook and alert bodies go through the one body reader (`api.body`): the same size limit
and strict JSON as the key routes, problems in plain words, and the ledger's domain field names
shown as the routes' clients spell them (both backends)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.harness import Harness, Tenant
from usagebook.api.body import SMALL_BODY_BYTES

HOOKS = "/api/v1/webhooks"
ALERTS = "/api/v1/alerts"
URL = "http://127.0.0.1:9/hooks"


def _hook(harness: Harness, tenant: Tenant) -> str:
    answer = harness.client.post(HOOKS, headers=tenant.admin,
                                 json={"url": URL, "eventTypes": ["key.expiring"]})
    assert answer.status_code == 201, answer.text
    return f"{HOOKS}/{answer.json()['id']}"


def _details(answer: Any, message: str = "Invalid request body") -> Any:
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["error"] == message  # the body's own problems; the ledger's are "parameters"
    return body["details"]


LEDGER = "Invalid request parameters"


def test_the_ledgers_names_are_shown_as_clients_spell_them(harness: Harness,
                                                           tenant: Tenant) -> None:
    put = harness.client.put
    details = _details(put(ALERTS, headers=tenant.admin, json={
        "keyThresholds": [0], "balanceBelow": {"USD": "-1", "BUNDLED_CREDITS": "1e-10"}}), LEDGER)
    assert details == {
        "_errors": [],
        "keyThresholds": {"_errors": ["must list at most 10 whole percentages from 1 to 100"]},
        "balanceBelow": {"_errors": [],
                         "USD": {"_errors": ["must be above 0 and at most 1000000000"]},
                         "BUNDLED_CREDITS": {"_errors": ["must have at most 9 decimal places"]}},
    }
    replay = f"{_hook(harness, tenant)}/replay"
    details = _details(harness.client.post(replay, headers=tenant.admin, json={}), LEDGER)
    assert details == {"_errors": [],
                       "eventId": {"_errors": ["give either eventId, or since and until"]}}
    details = _details(harness.client.post(replay, headers=tenant.admin, json={
        "since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}), LEDGER)
    assert details == {"_errors": [], "until": {"_errors": ["must be after since"]}}


def test_model_problems_are_in_plain_words(harness: Harness, tenant: Tenant) -> None:
    details = _details(harness.client.post(HOOKS, headers=tenant.admin,
                                           json={"eventTypes": [], "colour": "red"}))
    assert details == {
        "_errors": [],
        "url": {"_errors": ["is required"]},
        "eventTypes": {"_errors": ["must have at least 1 item"]},
        "colour": {"_errors": ["is not a known field"]},
    }
    details = _details(harness.client.put(ALERTS, headers=tenant.admin,
                                          json={"keyThresholds": [50.5]}))
    assert list(details) == ["_errors", "keyThresholds"]


@pytest.mark.parametrize(("method", "path"), [("post", HOOKS), ("put", ALERTS),
                                              ("post", "/api/v1/api_keys")])
def test_one_size_limit_and_one_json_strictness(harness: Harness, tenant: Tenant,
                                                method: str, path: str) -> None:
    send = getattr(harness.client, method)
    big = b'{"description": "' + b"x" * SMALL_BODY_BYTES + b'"}'
    answer = send(path, headers=tenant.admin, content=big)
    assert answer.status_code == 413, answer.text
    twice = b'{"url": "https://a.example/x", "url": "https://b.example/x"}'
    answer = send(path, headers=tenant.admin, content=twice)
    assert answer.status_code == 400, answer.text
    assert answer.json()["details"]["_errors"] == [
        'the request body has the key "url" twice in one object']
    answer = send(path, headers=tenant.admin, content=json.dumps([1]).encode())
    assert answer.status_code == 400, answer.text
