"""GET /billing/usage needs a live ADMIN key of the account; anything else is a 401."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.support.harness import Harness, Tenant
from tests.support.usage import URL, assert_standard_error, page
from usagebook.ledger.keys import KeyType, create_key, hash_secret, revoke_key
from usagebook.store.engine import Database
from usagebook.store.keys import insert_key
from usagebook.store.rows import KeyRow
from usagebook.store.tables.accounts import api_keys
from usagebook.timeutil import now_ms

BAD_HEADERS = [
    {},
    {"Authorization": ""},
    {"Authorization": "Bearer"},
    {"Authorization": "Bearer "},
    {"Authorization": "Basic dXNlcjpwYXNz"},
    {"Authorization": "Token ubk_abc"},
    {"Authorization": "Bearer ubk_not-a-real-key"},
    {"Authorization": "Bearer " + "x" * 5000},
]


def _same_401_as_unknown(harness: Harness, answer: object) -> None:
    unknown = harness.client.get(URL, headers={"Authorization": "Bearer ubk_unknown"})
    assert assert_standard_error(answer, 401) == assert_standard_error(unknown, 401)


@pytest.mark.parametrize("headers", BAD_HEADERS, ids=range(len(BAD_HEADERS)))
def test_missing_malformed_or_unknown_key_is_401(
    harness: Harness, headers: dict[str, str]
) -> None:
    _same_401_as_unknown(harness, harness.client.get(URL, headers=headers))


def test_a_bad_key_is_refused_before_parameters_are_checked(harness: Harness) -> None:
    answer = harness.client.get(URL, params={"limit": "0", "currency": "EUR"})
    assert_standard_error(answer, 401)


def test_inference_key_is_401_admin_required(harness: Harness, tenant: Tenant) -> None:
    answer = harness.client.get(
        URL, headers={"Authorization": f"Bearer {tenant.inference_key}"}
    )
    assert assert_standard_error(answer, 401) == {"error": "Admin API key required"}


def test_revoked_key_stops_working_at_once(harness: Harness, tenant: Tenant) -> None:
    page(harness, tenant)
    harness.call(lambda db: revoke_key(db, tenant.admin_key_id))
    _same_401_as_unknown(harness, harness.get(URL, tenant))


def test_expired_key_is_401(harness: Harness, tenant: Tenant) -> None:
    # Stored directly: the domain refuses to create an already expired key, and a key that
    # expires during the test would make it depend on the machine's speed.
    secret = "ubk_expired-" + tenant.account_id
    row = KeyRow(f"key_expired{tenant.account_id[5:]}", tenant.account_id, "ADMIN", "old",
                 now_ms() - 60_000, None, now_ms() - 1)

    async def insert(db: Database) -> None:
        async with db.write() as conn:
            await insert_key(conn, row, hash_secret(secret))

    harness.call(insert)
    _same_401_as_unknown(harness, harness.client.get(
        URL, headers={"Authorization": f"Bearer {secret}"}))


def test_key_with_a_future_expiry_works(harness: Harness, tenant: Tenant) -> None:
    expires = datetime.now(UTC) + timedelta(days=1)
    created = harness.call(lambda db: create_key(db, tenant.account_id, KeyType.ADMIN, "", expires))
    answer = harness.client.get(URL, headers={"Authorization": f"Bearer {created.secret}"})
    assert answer.status_code == 200


def test_only_the_sha256_of_a_secret_is_stored(harness: Harness, tenant: Tenant) -> None:
    async def stored_rows(db: object) -> list[dict[str, object]]:
        async with harness.database.read() as conn:
            result = await conn.execute(
                select(api_keys).where(api_keys.c.account_id == tenant.account_id))
            return [dict(row._mapping) for row in result]

    rows = harness.call(stored_rows)
    assert {row["id"] for row in rows} == {tenant.admin_key_id, tenant.inference_key_id}
    by_id = {row["id"]: row for row in rows}
    for key_id, secret in ((tenant.admin_key_id, tenant.admin_key),
                           (tenant.inference_key_id, tenant.inference_key)):
        assert by_id[key_id]["secret_hash"] == hashlib.sha256(secret.encode()).hexdigest()
        assert not any(secret in str(value) for row in rows for value in row.values())
    assert all(row["id"].startswith("key_") for row in rows)  # type: ignore[union-attr]
