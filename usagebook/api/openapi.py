"""/openapi.json as usagebook answers, not as FastAPI assumes.

FastAPI documents a `422` (its HTTPValidationError) on every operation with parameters, but
usagebook never sends one: api/errors.py turns FastAPI's validation errors into the contract's
400 DetailedError. The 422 entries and their schemas are removed so that every documented
status code is one a client can actually get.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

_FASTAPI_ONLY_SCHEMAS = ("HTTPValidationError", "ValidationError")


def document_real_answers(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()  # FastAPI caches it in app.openapi_schema; edited in place
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    operation.get("responses", {}).pop("422", None)
            components = schema.get("components", {}).get("schemas", {})
            for name in _FASTAPI_ONLY_SCHEMAS:
                components.pop(name, None)
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]
