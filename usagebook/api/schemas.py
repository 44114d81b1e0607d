"""Wire models: they describe the contract's bodies in /openapi.json.

Answers are built by the `*_to_wire` converters beside each route and written by
`ExactJSONResponse`; these models document them (money as JSON numbers, never strings) rather
than re-validating every row.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field, WithJsonSchema

from usagebook.strict_model import StrictModel

ExactNumber = Annotated[Decimal, WithJsonSchema({"type": "number"})]
Timestamp = Annotated[
    str,
    Field(
        pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$",
        examples=["2026-06-15T19:05:10.504Z"],
    ),
]
StoredCurrency = Literal["USD", "DIEM", "BUNDLED_CREDITS"]
FilterCurrency = Literal["USD", "DIEM", "BUNDLED_CREDITS", "VCU"]


class InferenceDetails(StrictModel):
    requestId: str | None
    inferenceExecutionTime: int | None
    promptTokens: int | None
    completionTokens: int | None


class UsageEntry(StrictModel):
    timestamp: Timestamp
    sku: str
    pricePerUnitUsd: ExactNumber
    units: ExactNumber
    amount: ExactNumber = Field(description="Negative for a charge.")
    currency: StoredCurrency
    notes: str
    inferenceDetails: InferenceDetails | None


class Pagination(StrictModel):
    limit: int
    page: int
    total: int
    totalPages: int


class UsagePage(StrictModel):
    warningMessage: str = Field(
        description="Venice's fixed notice for this endpoint, sent because Venice's published "
        "schema requires it; usagebook keeps serving this endpoint."
    )
    data: list[UsageEntry]
    pagination: Pagination


class StandardError(StrictModel):
    error: str


class DetailedError(StrictModel):
    error: str
    details: dict[str, Any] = Field(
        description='Per parameter: {"<param>": {"_errors": ["<what is wrong>"]}}, '
        'plus "_errors" for problems of the request as a whole.'
    )


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI response entries for the contract's error bodies."""
    descriptions = {
        400: "Invalid parameters",
        401: "Missing, invalid or non-admin API key",
        402: "A spending limit or the balance refuses it",
        404: "Not found",
        406: "No acceptable media type",
        409: "Conflicts with stored state",
        413: "Request body too large",
        429: "Rate limit exceeded",
        500: "Unexpected server error",
        503: "Database unavailable",
        504: "Query timed out",
    }
    retry_after = {"Retry-After": {"schema": {"type": "integer"},
                                   "description": "Seconds to wait before trying again"}}
    return {
        code: {
            "model": DetailedError if code == 400 else StandardError,
            "description": descriptions[code],
            **({"headers": retry_after} if code in (429, 503) else {}),
        }
        for code in codes
    }
