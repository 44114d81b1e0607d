"""/openapi.json describes GET /billing/usage exactly: parameters, both media types, pagination
headers, every error body; and documents no status code usagebook never sends."""

from __future__ import annotations

from typing import Any

from tests.support.harness import Harness

USAGE = "/api/v1/billing/usage"


def _described(harness: Harness) -> dict[str, Any]:
    answer = harness.client.get("/openapi.json")
    assert answer.status_code == 200
    document: dict[str, Any] = answer.json()
    return document


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_usage_parameters(harness: Harness) -> None:
    operation = _described(harness)["paths"][USAGE]["get"]
    params = {p["name"]: p for p in operation["parameters"]}
    # Venice's six, and usagebook's own two filters (README: the endpoints and their parameters)
    assert set(params) == {"currency", "startDate", "endDate", "limit", "page", "sortOrder",
                           "apiKeyId", "modelId"}
    assert all(p["in"] == "query" and not p["required"] for p in params.values())
    schemas = {name: p["schema"] for name, p in params.items()}
    assert schemas["currency"]["enum"] == ["USD", "DIEM", "BUNDLED_CREDITS", "VCU"]
    assert schemas["sortOrder"]["enum"] == ["asc", "desc"]
    assert (schemas["limit"]["type"], schemas["limit"]["minimum"],
            schemas["limit"]["maximum"]) == ("integer", 1, 500)
    assert (schemas["page"]["type"], schemas["page"]["minimum"]) == ("integer", 1)
    assert "maximum" not in schemas["page"]
    for name in ("startDate", "endDate"):
        assert (schemas[name]["type"], schemas[name]["format"]) == ("string", "date-time")
    assert schemas["apiKeyId"]["pattern"] == "^key_[A-Za-z0-9]{1,36}$"
    assert (schemas["modelId"]["minLength"], schemas["modelId"]["maxLength"]) == (1, 200)
    assert operation["security"] == [{"HTTPBearer": []}]


def test_usage_answers(harness: Harness) -> None:
    document = _described(harness)
    responses = document["paths"][USAGE]["get"]["responses"]
    assert set(responses) == {"200", "400", "401", "406", "429", "500", "503"}
    ok = responses["200"]
    assert set(ok["content"]) == {"application/json", "text/csv"}
    assert set(ok["headers"]) == {"x-pagination-limit", "x-pagination-page",
                                  "x-pagination-total", "x-pagination-total-pages"}
    page = _resolve(document, ok["content"]["application/json"]["schema"])
    assert set(page["required"]) == {"warningMessage", "data", "pagination"}
    for code, model in (("400", "DetailedError"), *((c, "StandardError") for c in
                                                     ("401", "406", "429", "500", "503"))):
        schema = responses[code]["content"]["application/json"]["schema"]
        assert schema["$ref"].endswith("/" + model), (code, schema)


def test_no_operation_documents_fastapis_422(harness: Harness) -> None:
    document = _described(harness)
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert "422" not in operation["responses"], (method, path)
    assert "HTTPValidationError" not in document.get("components", {}).get("schemas", {})
