"""The /api_keys family: list, get one, create, update, revoke, on both databases. Every answer
is checked against Venice's published schema; every refusal names what is wrong; another
account's key is an unknown key."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support.harness import Harness, Tenant
from tests.support.keys import KEYS, bearer, create, problems, venice_errors
from usagebook.store import keys as key_store
from usagebook.store.engine import Database
from usagebook.timeutil import now_ms

KEY_FIELDS = {"id", "apiKeyType", "description", "createdAt", "expiresAt", "lastUsedAt",
              "last6Chars", "consumptionLimits", "limitPeriod", "modelPrivacy"}
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def _listed(harness: Harness, tenant: Tenant) -> dict[str, Any]:
    answer = harness.client.get(KEYS, headers=tenant.admin)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert venice_errors("apiKeysList", body) == []
    assert body["object"] == "list"
    return {key["id"]: key for key in body["data"]}


def _expire(harness: Harness, key_id: str, account_id: str) -> None:
    async def work(db: Database) -> None:
        async with db.write() as conn:
            await key_store.update_key(conn, key_id, account_id, {"expires_ms": now_ms() - 1})

    harness.call(work)


def test_the_list_holds_the_active_keys_in_venices_shape(harness: Harness, tenant: Tenant) -> None:
    limited = create(harness, tenant, consumptionLimit={"usd": 5}, limitPeriod="MONTH")
    revoked = create(harness, tenant)
    expired = create(harness, tenant)
    assert harness.client.delete(KEYS, params={"id": revoked["id"]},
                                 headers=tenant.admin).status_code == 200
    _expire(harness, expired["id"], tenant.account_id)

    listed = _listed(harness, tenant)
    assert set(listed) == {tenant.admin_key_id, tenant.inference_key_id, limited["id"]}
    for key in listed.values():
        extra = {"currentPeriodUsage"} if key["id"] == limited["id"] else set()
        assert set(key) == KEY_FIELDS | {"usage"} | extra
        assert TIMESTAMP.match(key["createdAt"]) and key["lastUsedAt"] is None
        assert key["usage"] == {"trailingSevenDays": {"usd": "0.0000", "vcu": "0.0000",
                                                      "diem": "0.0000"}}
    assert listed[limited["id"]]["currentPeriodUsage"] == {"usd": "0.0000", "diem": "0.0000"}
    assert listed[limited["id"]]["consumptionLimits"] == {"usd": 5, "diem": None, "vcu": None}
    assert listed[tenant.admin_key_id]["apiKeyType"] == "ADMIN"


def test_get_one_and_another_accounts_key_is_not_found(harness: Harness, tenant: Tenant) -> None:
    made = create(harness, tenant, description="one", modelPrivacy="PRIVATE_TEXT")
    answer = harness.client.get(f"{KEYS}/{made['id']}", headers=tenant.admin)
    assert answer.status_code == 200
    assert venice_errors("apiKeysGet", answer.json()) == []
    key = answer.json()["data"]
    assert (key["description"], key["modelPrivacy"], key["last6Chars"]) == (
        "one", "PRIVATE_TEXT", made["apiKey"][-6:])
    other = harness.tenant("other")
    for key_id in (other.admin_key_id, "key_unknown", made["id"] + "x"):
        missing = harness.client.get(f"{KEYS}/{key_id}", headers=tenant.admin)
        assert missing.status_code == 404
        assert venice_errors("standardError", missing.json()) == []
    # The other account sees it as unknown too.
    assert harness.client.get(f"{KEYS}/{made['id']}", headers=other.admin).status_code == 404


def test_create_answers_the_secret_once_and_the_secret_works(
    harness: Harness, tenant: Tenant
) -> None:
    body = {"apiKeyType": "ADMIN", "description": "d" * 64, "expiresAt": "2099-12-31",
            "consumptionLimit": {"usd": 12.345678901, "diem": 0, "vcu": None},
            "limitPeriod": "LIFETIME", "modelPrivacy": "PRIVATE_ONLY"}
    answer = harness.client.post(KEYS, headers=tenant.admin, json=body)
    assert answer.status_code == 200, answer.text
    assert venice_errors("apiKeysCreate", answer.json()) == []
    # The limit comes back as the exact number it was sent as (no float on the way).
    assert '"consumptionLimit":{"usd":12.345678901,"diem":0,"vcu":null}' in answer.text
    data = answer.json()["data"]
    assert answer.json()["success"] is True
    assert set(data) == {"id", "apiKey", "apiKeyType", "description", "expiresAt",
                         "consumptionLimit", "limitPeriod", "modelPrivacy"}
    assert (data["expiresAt"], data["limitPeriod"], data["modelPrivacy"]) == (
        "2099-12-31T00:00:00.000Z", "LIFETIME", "PRIVATE_ONLY")
    # The secret is a working ADMIN key of the same account, and is never shown again.
    again = harness.client.get(f"{KEYS}/{data['id']}", headers=bearer(data["apiKey"]))
    assert again.status_code == 200 and data["apiKey"] not in again.text
    assert data["apiKey"] not in harness.client.get(KEYS, headers=tenant.admin).text


@pytest.mark.parametrize("expires", ["", "2099-01-01", "2099-01-01T12:30:00Z",
                                     "2099-01-01T12:30:00.123Z"])
def test_every_expiry_form_is_accepted(harness: Harness, tenant: Tenant, expires: str) -> None:
    made = create(harness, tenant, expiresAt=expires)
    expected = {"": None, "2099-01-01": "2099-01-01T00:00:00.000Z",
                "2099-01-01T12:30:00Z": "2099-01-01T12:30:00.000Z"}.get(expires, expires)
    assert made["expiresAt"] == expected


BAD_CREATES: list[tuple[Any, set[str]]] = [
    ({"description": "x"}, {"apiKeyType"}),
    ({"apiKeyType": "INFERENCE"}, {"description"}),
    ({"apiKeyType": "inference", "description": ""}, {"apiKeyType", "description"}),
    ({"apiKeyType": "ADMIN", "description": "x" * 65, "name": "extra"}, {"description", "name"}),
    ({"apiKeyType": "ADMIN", "description": 5}, {"description"}),
    ({"apiKeyType": "ADMIN", "description": "x", "expiresAt": "2099-02-30"}, {"expiresAt"}),
    ({"apiKeyType": "ADMIN", "description": "x", "expiresAt": "2099-01-01T00:00:00+01:00"},
     {"expiresAt"}),
    ({"apiKeyType": "ADMIN", "description": "x", "expiresAt": "2099-01-01\n"}, {"expiresAt"}),
    ({"apiKeyType": "ADMIN", "description": "x", "expiresAt": None}, {"expiresAt"}),
    ({"apiKeyType": "ADMIN", "description": "x", "expiresAt": "2001-01-01"}, {"expiresAt"}),
    ({"apiKeyType": "ADMIN", "description": "x", "limitPeriod": "WEEK", "modelPrivacy": "NONE"},
     {"limitPeriod", "modelPrivacy"}),
    ({"apiKeyType": "ADMIN", "description": "x", "consumptionLimit": None}, {"consumptionLimit"}),
]
BAD_LIMITS = [-1, 10_000_000_000, "5", True, [1], {"v": 1}]


@pytest.mark.parametrize(("body", "named"), BAD_CREATES)
def test_a_bad_create_names_every_problem(
    harness: Harness, tenant: Tenant, body: Any, named: set[str]
) -> None:
    answer = harness.client.post(KEYS, headers=tenant.admin, json=body)
    assert set(problems(answer)) - {"_errors"} == named


@pytest.mark.parametrize("limit", BAD_LIMITS)
def test_a_limit_is_a_number_from_0_to_9999999999(
    harness: Harness, tenant: Tenant, limit: Any
) -> None:
    body = {"apiKeyType": "ADMIN", "description": "x", "consumptionLimit": {"diem": limit}}
    details = problems(harness.client.post(KEYS, headers=tenant.admin, json=body))
    assert set(details["consumptionLimit"]) == {"_errors", "diem"}


def test_a_body_that_is_not_a_json_object_is_a_400(harness: Harness, tenant: Tenant) -> None:
    for content in (b"{", b"[]", b'"text"', b""):
        answer = harness.client.post(KEYS, headers={**tenant.admin,
                                                    "Content-Type": "application/json"},
                                     content=content)
        assert problems(answer)["_errors"], content
    assert harness.client.post(KEYS, headers=tenant.admin,
                               content=b"x" * 70_000).status_code == 413


def test_an_update_changes_what_it_names(harness: Harness, tenant: Tenant) -> None:
    made = create(harness, tenant, expiresAt="2099-01-01", consumptionLimit={"usd": 1.5})
    patch = {"id": made["id"], "description": "renamed", "consumptionLimit": {"diem": 7},
             "limitPeriod": "MONTH", "modelPrivacy": "PRIVATE_TEXT"}
    answer = harness.client.patch(KEYS, headers=tenant.admin, json=patch)
    assert answer.status_code == 200, answer.text
    assert venice_errors("apiKeysUpdate", answer.json()) == []
    key = answer.json()["data"]
    assert set(key) == KEY_FIELDS
    assert key["consumptionLimits"] == {"usd": 1.5, "diem": 7, "vcu": None}
    assert (key["description"], key["limitPeriod"], key["modelPrivacy"], key["expiresAt"]) == (
        "renamed", "MONTH", "PRIVATE_TEXT", "2099-01-01T00:00:00.000Z")
    for removal in ("", None):
        again = harness.client.patch(KEYS, headers=tenant.admin,
                                     json={"id": made["id"], "expiresAt": removal,
                                           "consumptionLimit": {"usd": None}})
        assert again.json()["data"]["expiresAt"] is None
        assert again.json()["data"]["consumptionLimits"]["usd"] is None
    assert _listed(harness, tenant)[made["id"]]["description"] == "renamed"


def test_an_update_refuses_the_type_unknown_fields_and_other_accounts_keys(
    harness: Harness, tenant: Tenant
) -> None:
    made = create(harness, tenant)
    bad = harness.client.patch(KEYS, headers=tenant.admin,
                               json={"id": made["id"], "apiKeyType": "ADMIN", "color": "red",
                                     "description": None})
    assert set(problems(bad)) == {"_errors", "apiKeyType", "color", "description"}
    assert set(problems(harness.client.patch(KEYS, headers=tenant.admin, json={}))) == {
        "_errors", "id"}
    other = harness.tenant("other")
    for key_id in (other.inference_key_id, "key_unknown"):
        answer = harness.client.patch(KEYS, headers=tenant.admin,
                                      json={"id": key_id, "description": "taken over"})
        assert set(problems(answer)) == {"_errors", "id"}
    assert _listed(harness, other)[other.inference_key_id]["description"] == "inference"


def test_revoking(harness: Harness, tenant: Tenant) -> None:
    made = create(harness, tenant)
    answer = harness.client.delete(KEYS, params={"id": made["id"]}, headers=tenant.admin)
    assert (answer.status_code, answer.json()) == (200, {"success": True})
    assert venice_errors("apiKeysDelete", answer.json()) == []
    assert made["id"] not in _listed(harness, tenant)
    assert harness.client.get(KEYS + "/rate_limits",
                              headers=bearer(made["apiKey"])).status_code == 401
    # Not the key in use, not another account's, not a missing or unknown id.
    other = harness.tenant("other")
    for params in ({"id": tenant.admin_key_id}, {"id": other.admin_key_id}, {},
                   {"id": "key_unknown"}):
        refused = harness.client.delete(KEYS, params=params, headers=tenant.admin)
        assert set(problems(refused)) == {"_errors", "id"}, params
    assert harness.client.get(KEYS, headers=other.admin).status_code == 200
    assert harness.client.get(KEYS, headers=tenant.admin).status_code == 200


def test_an_inference_key_may_only_ask_about_itself(harness: Harness, tenant: Tenant) -> None:
    inference = bearer(tenant.inference_key)
    client = harness.client
    for answer in (
        client.get(KEYS, headers=inference),
        client.get(f"{KEYS}/{tenant.inference_key_id}", headers=inference),
        client.post(KEYS, headers=inference, json={"apiKeyType": "ADMIN", "description": "x"}),
        client.patch(KEYS, headers=inference, json={"id": tenant.inference_key_id}),
        client.delete(KEYS, params={"id": tenant.admin_key_id}, headers=inference),
        client.get(KEYS + "/rate_limits/log", headers=inference),
    ):
        assert (answer.status_code, answer.json()) == (401, {"error": "Admin API key required"})
    assert client.get(KEYS + "/rate_limits", headers=inference).status_code == 200
    assert tenant.admin_key_id in _listed(harness, tenant)
    for headers in ({}, bearer("ubk_unknown")):
        assert client.get(KEYS + "/rate_limits", headers=headers).status_code == 401
