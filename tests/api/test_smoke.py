from tests.support.factories import random_entries, store_entries
from tests.support.harness import Harness, Tenant


def test_usage_lists_only_the_callers_entries(harness: Harness, tenant: Tenant) -> None:
    other = harness.tenant("other")
    harness.call(lambda db: store_entries(db, random_entries(tenant.account_id, 7, seed=3)))
    harness.call(lambda db: store_entries(db, random_entries(other.account_id, 5, seed=4)))
    answer = harness.get("/api/v1/billing/usage", tenant)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["pagination"] == {"limit": 200, "page": 1, "total": 7, "totalPages": 1}
    assert len(body["data"]) == 7
