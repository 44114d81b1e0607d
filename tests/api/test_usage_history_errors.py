"""GET /billing/usage-history: rejected input and cursors, and the CSV form."""

from __future__ import annotations

import base64
import csv
import io
import re
from typing import Any

import pytest

from tests.support.factories import random_entries, store_entries
from tests.support.harness import Harness, Tenant
from usagebook.ledger.cursors import WalkCursor, encode_cursor
from usagebook.timeutil import now_ms

URL = "/api/v1/billing/usage-history"
DISPOSITION = re.compile(r"^attachment; filename=billing-usage-history-\d{8}T\d{9}Z\.csv$")


def a_cursor(harness: Harness, tenant: Tenant, count: int = 25) -> str:
    harness.call(lambda db: store_entries(db, random_entries(tenant.account_id, count, seed=21)))
    answer = harness.get(URL, tenant, params={"pageSize": 10})
    assert answer.status_code == 200
    cursor: str = answer.json()["nextCursor"]
    return cursor


def assert_400_on(answer: Any, *fields: str) -> None:
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert set(body) == {"error", "details"}
    for field in fields:
        assert body["details"][field]["_errors"], body


@pytest.mark.parametrize(
    ("params", "fields"),
    [
        ({"pageSize": 9}, ["pageSize"]),
        ({"pageSize": 1001}, ["pageSize"]),
        ({"pageSize": "ten"}, ["pageSize"]),
        ({"currency": "VCU"}, ["currency"]),
        ({"currency": "EUR", "pageSize": 5}, ["currency", "pageSize"]),
        ({"startTimestamp": "yesterday"}, ["startTimestamp"]),
        ({"startTimestamp": "2026-01-02T00:00:00Z", "endTimestamp": "2026-01-02T00:00:00Z"},
         ["endTimestamp"]),
        ({"startTimestamp": "2026-01-02T00:00:00Z", "endTimestamp": "2026-01-01T00:00:00Z"},
         ["endTimestamp"]),
        ({"cursor": "not a cursor!"}, ["cursor"]),
        ({"cursor": "A" * 513}, ["cursor"]),
        ({"cursor": "A" * 112}, ["cursor"]),
        ({"cursor": "abc"}, ["cursor"]),
    ],
)
def test_bad_parameters_are_400(
    harness: Harness, tenant: Tenant, params: dict[str, Any], fields: list[str]
) -> None:
    assert_400_on(harness.get(URL, tenant, params=params), *fields)


@pytest.mark.parametrize("name", ["currency", "startTimestamp", "endTimestamp", "pageSize"])
def test_filters_with_a_cursor_are_400(harness: Harness, tenant: Tenant, name: str) -> None:
    values = {"currency": "USD", "startTimestamp": "2026-01-01T00:00:00Z",
              "endTimestamp": "2027-01-01T00:00:00Z", "pageSize": 10}
    cursor = a_cursor(harness, tenant)
    assert_400_on(harness.get(URL, tenant, params={"cursor": cursor, name: values[name]}), name)
    assert harness.get(URL, tenant, params={"cursor": cursor}).status_code == 200


def test_tampered_cursor_is_400(harness: Harness, tenant: Tenant) -> None:
    cursor = a_cursor(harness, tenant)
    raw = bytearray(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    for index in (3, 30, len(raw) - 1):  # page size, position, signature
        changed = bytearray(raw)
        changed[index] ^= 0x01
        token = base64.urlsafe_b64encode(bytes(changed)).rstrip(b"=").decode()
        assert_400_on(harness.get(URL, tenant, params={"cursor": token}), "cursor")
    assert_400_on(harness.get(URL, tenant, params={"cursor": cursor[:-1]}), "cursor")


def test_another_accounts_cursor_is_400(harness: Harness, tenant: Tenant) -> None:
    cursor = a_cursor(harness, tenant)
    other = harness.tenant("other")
    harness.call(lambda db: store_entries(db, random_entries(other.account_id, 25, seed=22)))
    assert_400_on(harness.get(URL, other, params={"cursor": cursor}), "cursor")


def test_cursor_signed_with_another_secret_is_400(harness: Harness, tenant: Tenant) -> None:
    forged = encode_cursor(_cursor(expires_ms=now_ms() + 60_000), tenant.account_id, "guess")
    assert_400_on(harness.get(URL, tenant, params={"cursor": forged}), "cursor")


def test_expired_cursor_is_400(harness: Harness, tenant: Tenant) -> None:
    secret = harness.settings.secret_key
    assert secret
    fresh = encode_cursor(_cursor(expires_ms=now_ms() + 60_000), tenant.account_id, secret)
    expired = encode_cursor(_cursor(expires_ms=now_ms() - 1), tenant.account_id, secret)
    assert harness.get(URL, tenant, params={"cursor": fresh}).status_code == 200
    answer = harness.get(URL, tenant, params={"cursor": expired})
    assert_400_on(answer, "cursor")
    assert "expired" in answer.json()["details"]["cursor"]["_errors"][0]


def test_inference_key_is_401(harness: Harness, tenant: Tenant) -> None:
    answer = harness.get(URL, headers={"Authorization": f"Bearer {tenant.inference_key}"})
    assert answer.status_code == 401
    assert answer.json() == {"error": "Admin API key required"}


def test_csv_pages_carry_the_cursor_in_a_header(harness: Harness, tenant: Tenant) -> None:
    harness.call(lambda db: store_entries(db, random_entries(tenant.account_id, 15, seed=23)))
    json_ids = [e["inferenceDetails"]["requestId"]
                for e in harness.get(URL, tenant, params={"pageSize": 100}).json()["data"]]
    csv_ids: list[str] = []
    params: dict[str, Any] = {"pageSize": 10}
    for expect_next in (True, False):
        answer = harness.get(URL, tenant, params=params, headers={"Accept": "text/csv"})
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "text/csv; charset=utf-8"
        assert DISPOSITION.match(answer.headers["content-disposition"])
        assert ("x-next-cursor" in answer.headers) is expect_next
        rows = list(csv.DictReader(io.StringIO(answer.text)))
        csv_ids += [row["inferenceDetails.requestId"] for row in rows]
        params = {"cursor": answer.headers.get("x-next-cursor")}
    assert csv_ids == json_ids
    assert len(json_ids) == 15


def _cursor(expires_ms: int) -> WalkCursor:
    return WalkCursor(currency=None, start_ms=None, end_ms=None, page_size=10, after_ts=0,
                      after_id=0, snapshot_id=2**40, expires_ms=expires_ms)
