"""Helpers for the API keys tests: Venice's published schemas and small request wrappers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from tests.support.harness import Harness, Tenant

KEYS = "/api/v1/api_keys"
SCHEMAS = json.loads((Path(__file__).parents[1] / "contract" / "venice_schemas.json").read_text())


def venice_errors(schema: str, body: Any) -> list[str]:
    """What Venice's published schema `schema` finds wrong with `body` (nothing, for a pass)."""
    return [f"{list(e.absolute_path)}: {e.message}"
            for e in Draft202012Validator(SCHEMAS[schema]).iter_errors(body)]


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def create(harness: Harness, tenant: Tenant, **body: Any) -> Any:
    body.setdefault("apiKeyType", "INFERENCE")
    body.setdefault("description", "made in a test")
    answer = harness.client.post(KEYS, headers=tenant.admin, json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


def problems(answer: Any) -> dict[str, Any]:
    """The DetailedError's details of a 400, checked against Venice's schema on the way."""
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert venice_errors("detailedError", body) == []
    details: dict[str, Any] = body["details"]
    return details
