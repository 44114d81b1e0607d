"""schemathesis over the app's own /openapi.json, every operation, on PostgreSQL.

Twice: with the right credential for each operation (an ADMIN key of an account with entries;
the operator token for the recording endpoint) and with bad ones (none, malformed, unknown,
revoked, expired-looking, an INFERENCE key). Either way no answer may be a 5xx, and every answer
must be documented: its status code, content type, headers and body schema.

Bounded for CI: USAGEBOOK_FUZZ_EXAMPLES examples per operation (default 25; 10 when CI=true).
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis

# Imported now, not lazily while generating the first path parameter (the webhook routes' ids):
# pytest rewrites a plugin's modules on import, and compiling one deep in hypothesis's stack hit
# CPython 3.11's "AST constructor recursion depth mismatch" SystemError.
import schemathesis.generation.dictionaries
from hypothesis import HealthCheck, settings
from jsonschema import Draft202012Validator
from schemathesis.checks import positive_data_acceptance

from tests.support.factories import random_entries, store_entries
from tests.support.harness import OPERATOR_TOKEN, TEST_SECRET, make_settings
from tests.support.usage import SCHEMAS
from usagebook.app import create_app
from usagebook.ledger.accounts import create_account
from usagebook.ledger.catalog import DEMO_CATALOG, upsert_catalog
from usagebook.ledger.keys import KeyType, create_key, revoke_key
from usagebook.settings import Settings
from usagebook.store.engine import create_database

DEFAULT_EXAMPLES = "10" if os.environ.get("CI") == "true" else "25"
MAX_EXAMPLES = int(os.environ.get("USAGEBOOK_FUZZ_EXAMPLES", DEFAULT_EXAMPLES))
# Authenticated by the operator token, not a customer key (GET /usage/analytics takes an ADMIN key).
OPERATOR_PATHS = ("/api/v1/usage/events", "/api/v1/usage/authorize")


async def _credentials(database_url: str) -> dict[str, str]:
    database = create_database(make_settings(database_url))
    try:
        await upsert_catalog(database, DEMO_CATALOG)
        account = await create_account(database, "fuzzed")
        admin = await create_key(database, account.id, KeyType.ADMIN, "fuzz admin")
        inference = await create_key(database, account.id, KeyType.INFERENCE, "fuzz inference")
        revoked = await create_key(database, account.id, KeyType.ADMIN, "revoked")
        await revoke_key(database, revoked.row.id)
        await store_entries(database, random_entries(account.id, 60, seed=99,
                                                     key_ids=(None, inference.row.id)))
        return {"admin": admin.secret, "inference": inference.secret, "revoked": revoked.secret}
    finally:
        await database.dispose()


# The schema is loaded at collection time, so that each operation is a test of its own, from an
# app whose database is never touched (routes do not depend on it); requests go to `target`, the
# same app on the session's PostgreSQL database. (schemathesis.pytest.from_fixture would load it
# per test, but it does not work with this pytest.)
_DESCRIBED = create_app(Settings.from_env({}, database_url="sqlite:///:memory:",
                                          secret_key=TEST_SECRET))
schema = schemathesis.openapi.from_asgi("/openapi.json", _DESCRIBED)
bare_schema = schemathesis.openapi.from_asgi("/openapi.json", _DESCRIBED)
# Unknown query parameters are ignored on purpose (clients add cache-busters and the like).
for _loaded in (schema, bare_schema):
    _loaded.config.generation.update(allow_extra_parameters=False)
_KEYS: dict[str, str] = {}
# A request can match the schema and still break a rule the schema cannot state (startDate
# after endDate, an unknown SKU, both or neither of two dates): a documented 400, not a defect.
NOT_CHECKED = [positive_data_acceptance]  # filled by the `target` fixture before any request


@schema.auth(refresh_interval=None)
class _RightCredential:
    """Tells schemathesis the Authorization header is the run's own (supplied, not generated,
    so it does not count a request as invalid for lacking one). Cases may be built before the
    keys exist, so the test puts the real credential in just before each call."""

    def get(self, _case: Any, _ctx: Any) -> str:
        return "Bearer set-by-the-test"

    def set(self, case: Any, data: str, _ctx: Any) -> None:
        pass  # sent by the test as a transport header, which schemathesis's own checks vary


bounded = settings(max_examples=MAX_EXAMPLES, deadline=None,
                   suppress_health_check=list(HealthCheck))


@dataclass
class Target:
    app: Any
    keys: dict[str, str]


@pytest.fixture(scope="module")
def target(database_urls: dict[str, str]) -> Iterator[Target]:
    url = database_urls["postgresql"]
    keys = asyncio.run(_credentials(url))
    _KEYS.update(keys)
    app = create_app(make_settings(url))
    yield Target(app, keys)
    # schemathesis runs the app's lifespan itself; end it before the database is dropped.
    from schemathesis.python.asgi import shutdown_lifespans

    shutdown_lifespans()


def test_the_described_schema_is_the_served_one(target: Target) -> None:
    assert _DESCRIBED.openapi() == target.app.openapi()


def _right_credential(path: str) -> str:
    token = OPERATOR_TOKEN if path.startswith(OPERATOR_PATHS) else _KEYS["admin"]
    return f"Bearer {token}"


@schema.parametrize()
@bounded
def test_every_operation_with_the_right_credential(case: Any, target: Target) -> None:
    response = case.call_and_validate(app=target.app, excluded_checks=NOT_CHECKED,
                                      headers={"Authorization": _right_credential(case.path)})
    _venice_accepts(case, response)


ANY_KEY_PATH = "/api/v1/api_keys/rate_limits"
BAD_AUTHORIZATION = ["", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer ubk_unknown",
                     "Bearer " + "x" * 600]


_turn = itertools.count()


@bare_schema.parametrize()
@bounded
def test_every_operation_with_bad_credentials(case: Any, target: Target) -> None:
    keys = target.keys
    choices = [*BAD_AUTHORIZATION, f"Bearer {keys['revoked']}", f"Bearer {keys['inference']}"]
    if case.path.startswith(OPERATOR_PATHS):
        choices.append(f"Bearer {keys['admin']}")  # a customer key is no operator token
    authorization = choices[next(_turn) % len(choices)]  # every kind, in turn
    response = case.call_and_validate(app=target.app, excluded_checks=NOT_CHECKED,
                                      headers={"Authorization": authorization})
    _venice_accepts(case, response)
    if case.path == ANY_KEY_PATH and authorization == f"Bearer {keys['inference']}":
        return  # any key may ask about itself
    if case.path.startswith("/api/"):
        # 405: schemathesis also tries methods the route lacks, refused before any auth.
        assert response.status_code in (401, 405), response.text
        assert response.status_code == 401 or case.method.upper() != case.operation.method.upper()


# Venice's published schemas, for the endpoints Venice has: our own description is checked
# above, and Venice's clients must accept the very same answers.
VENICE_200 = {"/api/v1/billing/usage": "usage", "/api/v1/billing/usage-history": "usageHistory",
              "/api/v1/billing/usage-analytics": "usageAnalytics",
              "/api/v1/billing/balance": "balance",
              "GET /api/v1/api_keys": "apiKeysList", "POST /api/v1/api_keys": "apiKeysCreate",
              "PATCH /api/v1/api_keys": "apiKeysUpdate", "DELETE /api/v1/api_keys": "apiKeysDelete",
              "/api/v1/api_keys/{key_id}": "apiKeysGet", ANY_KEY_PATH: "apiKeysRateLimits",
              "/api/v1/api_keys/rate_limits/log": "apiKeysRateLimitLog"}
_VALIDATORS = {name: Draft202012Validator(SCHEMAS[name])
               for name in (*VENICE_200.values(), "detailedError", "standardError")}


def _venice_accepts(case: Any, response: Any) -> None:
    content_type = {k.lower(): v for k, v in response.headers.items()}.get("content-type", [""])
    venice = VENICE_200.get(f"{case.method.upper()} {case.path}", VENICE_200.get(case.path))
    if venice is None or "json" not in str(content_type):
        return
    status = response.status_code
    name = venice if status == 200 else (
        "detailedError" if status == 400 else "standardError")
    errors = [error.message for error in _VALIDATORS[name].iter_errors(response.json())]
    assert not errors, (status, name, errors[:3])
