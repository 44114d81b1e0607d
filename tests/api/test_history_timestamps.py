"""usage-history takes ISO 8601 date-time text only; pydantic alone would read `0.5` or
`1700000000` as epoch seconds (found by the schemathesis run)."""

from __future__ import annotations

import pytest

from tests.support.harness import Harness, Tenant
from tests.support.usage import assert_bad_request

URL = "/api/v1/billing/usage-history"


@pytest.mark.parametrize("value", ["0.5", "1700000000", "yesterday", "2026-01-01"])
def test_numbers_and_non_date_times_are_400(harness: Harness, tenant: Tenant, value: str) -> None:
    for name in ("startTimestamp", "endTimestamp"):
        assert_bad_request(harness.get(URL, tenant, params={name: value}), name)


def test_date_times_still_work(harness: Harness, tenant: Tenant) -> None:
    answer = harness.get(URL, tenant, params={"startTimestamp": "2026-01-01T00:00:00Z",
                                              "endTimestamp": "2026-01-02t00:00:00.5z"})
    assert answer.status_code == 200, answer.text
