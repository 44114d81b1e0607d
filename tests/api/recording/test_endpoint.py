"""POST /api/v1/usage/events: auth, limits, validation, pricing, idempotency (both backends)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tests.support.harness import Harness, Tenant
from tests.support.recording import (
    EVENTS_PATH,
    IMAGE,
    LLAMA_IN,
    OPERATOR,
    audit_clean,
    dec,
    event,
    post_events,
    record_ok,
)
from usagebook.ledger.catalog import upsert_catalog
from usagebook.ledger.keys import revoke_key
from usagebook.store.skus import SkuRow

TWO_MIB = 2 * 1024 * 1024  # the contract's limit for a recording body


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def usage(harness: Harness, tenant: Tenant) -> list[dict[str, object]]:
    answer = harness.get("/api/v1/billing/usage?sortOrder=asc&limit=500", tenant)
    assert answer.status_code == 200, answer.text
    data: list[dict[str, object]] = answer.json()["data"]
    return data


def test_records_priced_entries_in_request_order(harness: Harness, tenant: Tenant) -> None:
    when = datetime.now(UTC) - timedelta(hours=1)
    results = record_ok(
        harness,
        [
            event(
                "r1",
                tenant.account_id,
                "1234",
                sku=LLAMA_IN,
                timestamp=iso(when),
                notes="chat",
                inferenceExecutionTime=812,
                promptTokens=1234,
                completionTokens=56,
            ),
            {"requestId": "r2", "sku": IMAGE, "units": 3, "apiKeyId": tenant.inference_key_id},
        ],
    )
    assert [(r["index"], r["status"]) for r in results] == [(0, "recorded"), (1, "recorded")]
    first = results[0]["entry"]
    assert first == {
        "timestamp": iso(when),
        "sku": LLAMA_IN,
        "pricePerUnitUsd": 0.7,
        "units": 1234,
        "amount": -863.8,
        "currency": "USD",
        "notes": "chat",
        "inferenceDetails": {
            "requestId": "r1",
            "inferenceExecutionTime": 812,
            "promptTokens": 1234,
            "completionTokens": 56,
        },
    }
    assert results[1]["entry"]["amount"] == -0.03
    listed = usage(harness, tenant)
    assert [row["inferenceDetails"]["requestId"] for row in listed] == ["r1", "r2"]  # type: ignore[index]
    audit_clean(harness, tenant.account_id)


def test_json_numbers_stay_exact(harness: Harness, tenant: Tenant) -> None:
    # Written by hand: the JSON number 0.1 must reach the server as the text 0.1.
    body = f'{{"events": [{{"requestId": "f", "sku": "{IMAGE}", "units": 0.1, '
    body += f'"accountId": "{tenant.account_id}"}}]}}'
    answer = harness.client.post(
        EVENTS_PATH, content=body, headers={**OPERATOR, "Content-Type": "application/json"}
    )
    assert answer.status_code == 200, answer.text
    assert '"units":0.1,"amount":-0.001,' in answer.text


@pytest.mark.parametrize("who", ["none", "wrong", "admin", "inference"])
def test_only_the_operator_token_records(harness: Harness, tenant: Tenant, who: str) -> None:
    headers = {
        "none": {},
        "wrong": {"Authorization": "Bearer not-the-token"},
        "admin": {"Authorization": f"Bearer {tenant.admin_key}"},
        "inference": {"Authorization": f"Bearer {tenant.inference_key}"},
    }[who]
    answer = post_events(harness, [event("x", tenant.account_id)], headers=headers)
    assert answer.status_code == 401
    assert set(answer.json()) == {"error"}
    assert usage(harness, tenant) == []


@pytest.mark.parametrize(("extra", "status"), [(0, 200), (1, 413)])
def test_body_limit_is_two_mib(harness: Harness, tenant: Tenant, extra: int, status: int) -> None:
    body = json.dumps({"events": [event(f"big{extra}", tenant.account_id)]})
    body += " " * (TWO_MIB - len(body) + extra)  # whitespace keeps the JSON valid
    answer = harness.client.post(
        EVENTS_PATH, content=body, headers={**OPERATOR, "Content-Type": "application/json"}
    )
    assert answer.status_code == status, answer.text
    if status == 413:
        assert set(answer.json()) == {"error"}
        assert usage(harness, tenant) == []


@pytest.mark.parametrize(
    "body", [b"{not json", b"", b"[1, 2", '{"events": "\xff"}'.encode("latin-1")]
)
def test_malformed_json_is_400_detailed(harness: Harness, tenant: Tenant, body: bytes) -> None:
    answer = harness.client.post(
        EVENTS_PATH, content=body, headers={**OPERATOR, "Content-Type": "application/json"}
    )
    assert answer.status_code == 400
    payload = answer.json()
    assert payload["error"] and payload["details"]["_errors"]


@pytest.mark.parametrize("events", [[], [{}] * 1001])
def test_batch_size_is_1_to_1000(harness: Harness, events: list[object]) -> None:
    answer = harness.client.post(EVENTS_PATH, json={"events": events}, headers=OPERATOR)
    assert answer.status_code == 400
    assert answer.json()["details"]["events"]["_errors"]


def test_one_bad_event_writes_nothing_and_every_problem_is_named(
    harness: Harness, tenant: Tenant
) -> None:
    now = datetime.now(UTC)
    events = [
        event("ok-0", tenant.account_id),
        event("bad-1", tenant.account_id, "0"),
        event("bad-2", tenant.account_id, "1.0000000001"),
        event("bad-3", tenant.account_id, "abc"),
        event("bad-4", tenant.account_id, sku="no-such-sku"),
        event("bad-5", "acct_unknown"),
        {"requestId": "bad-6", "sku": IMAGE, "units": "1", "apiKeyId": "key_unknown"},
        event("bad-7", tenant.account_id, timestamp=iso(now - timedelta(hours=25))),
        event("bad-8", tenant.account_id, timestamp=iso(now + timedelta(minutes=6))),
        {**event("bad-9", tenant.account_id), "apiKeyId": tenant.inference_key_id},
        event("bad-10", tenant.account_id, promptTokens=-1, completionTokens="5"),
        event("bad-11", tenant.account_id, colour="blue"),
        event("bad-12", tenant.account_id, currency="USD"),
        event("bad-13", tenant.account_id, -2),
        event("bad-14", tenant.account_id, True),
        event("bad-15", tenant.account_id, timestamp="yesterday"),
    ]
    answer = post_events(harness, events)
    assert answer.status_code == 400, answer.text
    named = answer.json()["details"]["events"]
    expected = {
        "1": "units",
        "2": "units",
        "3": "units",
        "4": "sku",
        "5": "accountId",
        "6": "apiKeyId",
        "7": "timestamp",
        "8": "timestamp",
        "9": "apiKeyId",
        "10": "promptTokens",
        "11": "colour",
        "12": "currency",
        "13": "units",
        "14": "units",
        "15": "timestamp",
    }
    assert set(named) - {"_errors"} == set(expected)
    for index, field in expected.items():
        assert named[index][field]["_errors"], (index, field)
    assert named["10"]["completionTokens"]["_errors"]
    assert usage(harness, tenant) == []
    assert record_ok(harness, [events[0]])[0]["status"] == "recorded"  # nothing half-written


def test_repeats_are_duplicates_or_conflicts(harness: Harness, tenant: Tenant) -> None:
    stamp = iso(datetime.now(UTC) - timedelta(minutes=3))
    original = event("rep", tenant.account_id, "2", notes="first", timestamp=stamp, promptTokens=10)
    first = record_ok(harness, [original, original])
    assert [r["status"] for r in first] == ["recorded", "duplicate"]
    again = record_ok(
        harness,
        [
            original,
            event("rep", tenant.account_id, "2.000"),  # fewer fields sent, all matching
            {**original, "units": "3"},
            {**original, "notes": "second"},
            {**original, "timestamp": iso(datetime.now(UTC))},
            {**original, "completionTokens": 4},
            {**original, "accountId": None, "apiKeyId": tenant.inference_key_id},
            event("rep", tenant.account_id, "2", sku=LLAMA_IN),  # another sku: another entry
        ],
    )
    assert [r["status"] for r in again] == [
        "duplicate",
        "duplicate",
        "conflict",
        "conflict",
        "conflict",
        "conflict",
        "conflict",
        "recorded",
    ]
    for result in again[:-1]:
        assert result["entry"] == first[0]["entry"]  # the original, unchanged
    assert len(usage(harness, tenant)) == 2
    audit_clean(harness, tenant.account_id)


def test_conflict_in_the_same_batch_does_not_stop_the_rest(
    harness: Harness, tenant: Tenant
) -> None:
    results = record_ok(
        harness,
        [
            event("c1", tenant.account_id, "1"),
            event("c1", tenant.account_id, "5"),
            event("c2", tenant.account_id, "1"),
        ],
    )
    assert [r["status"] for r in results] == ["recorded", "conflict", "recorded"]
    assert dec(results[1]["entry"]["units"]) == 1


def test_revoked_key_still_records(harness: Harness, tenant: Tenant) -> None:
    harness.call(lambda db: revoke_key(db, tenant.inference_key_id))
    results = record_ok(
        harness,
        [{"requestId": "late", "sku": IMAGE, "units": "1", "apiKeyId": tenant.inference_key_id}],
    )
    assert results[0]["status"] == "recorded"


def test_a_price_change_applies_only_to_later_events(harness: Harness, tenant: Tenant) -> None:
    sku = f"test-priced-{tenant.account_id}"
    row = SkuRow(sku, "m", "Model", "IMAGE", "images", Decimal(1), "Image", Decimal("0.5"))
    harness.call(lambda db: upsert_catalog(db, [row]))
    before = record_ok(harness, [event("p1", tenant.account_id, "2", sku=sku)])
    harness.call(
        lambda db: upsert_catalog(
            db, [row.__class__(**{**row.__dict__, "price_per_unit_usd": Decimal("0.75")})]
        )
    )
    after = record_ok(harness, [event("p2", tenant.account_id, "2", sku=sku)])
    assert (before[0]["entry"]["amount"], after[0]["entry"]["amount"]) == (-1, -1.5)
    amounts = sorted(row["amount"] for row in usage(harness, tenant))  # type: ignore[type-var]
    assert amounts == [-1.5, -1]
