"""Strict input, everywhere: every integer parameter refuses values beyond its range (thousands
of digits included) and anything but ASCII digits; every text matched by a pattern is matched
whole (a trailing newline is refused); money and quantity text is plain ASCII decimal; a
recording body with a key twice in an object, or not in UTF-8, is refused whole with a 400
naming the problem, and nothing of it is recorded."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.harness import Harness, Tenant
from tests.support.recording import EVENTS_PATH, OPERATOR, event, grant, post_events
from usagebook.ledger.cursors import WalkCursor, encode_cursor
from usagebook.timeutil import now_ms

USAGE = "/api/v1/billing/usage"
HISTORY = "/api/v1/billing/usage-history"
ANALYTICS = "/api/v1/billing/usage-analytics"
NOT_WHOLE = ["9" * 5000, "9" * 20, "1" + "0" * 9, "1_0", " 10", "10 ", "10\n", "1e1",
             "\uff11\uff10", "\u0661\u0660", "10.0", "0x10", "-0"]


def assert_400_naming(answer: Any, field: str) -> dict[str, Any]:
    assert answer.status_code == 400, (answer.status_code, answer.text[:300])
    body: dict[str, Any] = answer.json()
    assert set(body) == {"error", "details"}, body
    named = body["details"][field]
    assert named if field == "_errors" else named["_errors"] or len(named) > 1, body
    return body


@pytest.mark.parametrize("raw", NOT_WHOLE)
@pytest.mark.parametrize(("url", "name"), [(USAGE, "limit"), (HISTORY, "pageSize")])
def test_integer_parameters_take_only_ascii_digits_in_range(
    harness: Harness, tenant: Tenant, url: str, name: str, raw: str
) -> None:
    assert_400_naming(harness.get(url, tenant, params={name: raw}), name)


@pytest.mark.parametrize("raw", [*NOT_WHOLE[3:], "9" * 101, "9" * 5000, "0"])
def test_page_takes_ascii_digits_up_to_its_hundred_digit_range(
    harness: Harness, tenant: Tenant, raw: str
) -> None:
    assert_400_naming(harness.get(USAGE, tenant, params={"page": raw}), "page")


def test_any_page_within_range_past_the_end_is_empty(harness: Harness, tenant: Tenant) -> None:
    answer = harness.get(USAGE, tenant, params={"page": "9" * 100})
    assert answer.status_code == 200 and answer.json()["data"] == []


@pytest.mark.parametrize("lookback", [
    "7d\n", "7d%0A", "7d ", " 7d", "\uff17d", "1\u0661d", "9" * 5000 + "d", "1234567d", "0d",
    "7D", "7", "d",
])
def test_lookback_is_matched_whole_with_at_most_six_ascii_digits(
    harness: Harness, tenant: Tenant, lookback: str
) -> None:
    assert_400_naming(harness.get(ANALYTICS, tenant, params={"lookback": lookback}), "lookback")


def test_a_lookback_of_six_digits_is_clamped(harness: Harness, tenant: Tenant) -> None:
    answer = harness.get(ANALYTICS, tenant, params={"lookback": "999999d"})
    assert answer.status_code == 200 and answer.json()["lookback"] == "90d"


def test_the_raw_newline_query_of_the_report_is_a_400(harness: Harness, tenant: Tenant) -> None:
    assert_400_naming(harness.get(ANALYTICS + "?lookback=7d%0A", tenant), "lookback")


@pytest.mark.parametrize(("url", "params", "field"), [
    (ANALYTICS, {"startDate": "2026-01-01\n", "endDate": "2026-01-02"}, "startDate"),
    (ANALYTICS, {"startDate": "2026-01-01", "endDate": "2026-01-0\u0662"}, "endDate"),
    (USAGE, {"startDate": "2026-01-01T00:00:00Z\n"}, "startDate"),
    (HISTORY, {"startTimestamp": "2026-01-01T00:00:00Z\n"}, "startTimestamp"),
    (HISTORY, {"cursor": "abc\n"}, "cursor"),
])
def test_patterns_match_the_whole_text(
    harness: Harness, tenant: Tenant, url: str, params: dict[str, str], field: str
) -> None:
    assert_400_naming(harness.get(url, tenant, params=params), field)


def test_a_forged_cursor_cannot_open_a_page_past_the_maximum(
    harness: Harness, tenant: Tenant
) -> None:
    """Whatever signed it (a leaked or weak secret), a cursor is held to pageSize <= 1000."""
    secret = harness.settings.secret_key
    assert secret
    for size in (3000, 9, 0, 65535):
        forged = WalkCursor(None, None, None, size, after_ts=0, after_id=0,
                            snapshot_id=2**62, expires_ms=now_ms() + 60_000)
        token = encode_cursor(forged, tenant.account_id, secret)
        assert_400_naming(harness.get(HISTORY, tenant, params={"cursor": token}), "cursor")


@pytest.mark.parametrize("units", ["1_0", "\uff11", "\u0661", "\u0661.5", " 1", "1 ", "\t1",
                                   "1\n", "NaN", "Infinity", "1,5", "\u00a01"])
def test_units_are_plain_ascii_decimal_text(harness: Harness, tenant: Tenant, units: str) -> None:
    batch = [event("fine", tenant.account_id), event("odd", tenant.account_id, units=units)]
    body = assert_400_naming(post_events(harness, batch), "events")
    assert body["details"]["events"]["1"]["units"]["_errors"], body
    assert recorded(harness, tenant) == 0


def test_grants_take_plain_ascii_decimal_text_only(harness: Harness, tenant: Tenant) -> None:
    from usagebook.errors import InvalidInput

    for amount in ("1_0", " 5", "\uff15"):
        with pytest.raises(InvalidInput):
            grant(harness, tenant.account_id, "USD", amount)


def duplicate_key_bodies(account_id: str) -> list[bytes]:
    one = json.dumps(event("dup-1", account_id))[1:-1]
    return [
        b'{"events": [{%s, "requestId": "dup-2"}]}' % one.encode(),
        b'{"events": [{%s}], "events": [{%s}]}' % (one.encode(), one.encode()),
        b'{"events": [{%s, "units": "2"}]}' % one.encode(),
    ]


def test_a_key_twice_in_an_object_refuses_the_batch(harness: Harness, tenant: Tenant) -> None:
    fine = json.dumps(event("fine", tenant.account_id))
    for body in duplicate_key_bodies(tenant.account_id):
        body = body.replace(b'{"events": [', b'{"events": [' + fine.encode() + b", ", 1)
        answer = harness.client.post(EVENTS_PATH, content=body,
                                     headers={**OPERATOR, "content-type": "application/json"})
        problem = assert_400_naming(answer, "_errors")["details"]["_errors"]
        assert "twice" in problem[0], problem
    assert recorded(harness, tenant) == 0


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32", "latin-1", "cp1252"])
def test_a_body_not_in_utf8_is_refused_naming_the_problem(
    harness: Harness, tenant: Tenant, encoding: str
) -> None:
    batch = {"events": [event("enc", tenant.account_id, notes="caf\u00e9")]}
    answer = harness.client.post(EVENTS_PATH, content=json.dumps(batch, ensure_ascii=False)
                                 .encode(encoding), headers=OPERATOR)
    problem = assert_400_naming(answer, "_errors")["details"]["_errors"]
    assert "UTF-8" in problem[0], problem
    assert recorded(harness, tenant) == 0


def recorded(harness: Harness, tenant: Tenant) -> int:
    answer = harness.get(USAGE, tenant)
    assert answer.status_code == 200
    total: int = answer.json()["pagination"]["total"]
    return total
