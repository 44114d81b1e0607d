"""Request ids, JSON access logs without secrets, /metrics, the body size limit, and the 500
StandardError that carries the request id."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.support.harness import OPERATOR_TOKEN, Harness, Tenant
from usagebook import metrics
from usagebook.app import create_app
from usagebook.logs import JsonFormatter

USAGE = "/api/v1/billing/usage"


@pytest.fixture
def app_client(harness: Harness) -> Iterator[TestClient]:
    """An app of this test's own, with one route that fails unexpectedly and one that reads a
    JSON body (so the middleware can be tried on both before the real routes exist)."""
    app = create_app(harness.settings)

    async def boom() -> None:
        raise RuntimeError("kaboom: internal detail")

    async def echo(body: dict[str, object]) -> dict[str, int]:
        return {"keys": len(body)}

    app.add_api_route("/test/boom", boom, methods=["GET"])
    app.add_api_route("/test/echo", echo, methods=["POST"])
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def json_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    formatter = JsonFormatter()
    return [json.loads(formatter.format(record)) for record in caplog.records]


def test_every_answer_carries_a_request_id(harness: Harness, tenant: Tenant) -> None:
    seen = set()
    for path, headers, status in [
        (USAGE, tenant.admin, 200), (USAGE, {}, 401), (USAGE + "?limit=0", tenant.admin, 400),
        ("/nowhere", {}, 404), ("/healthz", {}, 200),
    ]:
        answer = harness.get(path, headers=headers)
        assert answer.status_code == status
        assert len(answer.headers["x-request-id"]) == 32
        seen.add(answer.headers["x-request-id"])
    assert len(seen) == 5


@pytest.mark.parametrize("incoming, echoed", [
    ("trace-42.abc_DEF", True), ("x" * 64, True), ("x" * 65, False),
    ("bad id", False), ("<script>", False), ("", False),
])
def test_a_sane_incoming_request_id_is_kept(harness: Harness, incoming: str, echoed: bool) -> None:
    answer = harness.get("/healthz", headers={"x-request-id": incoming})
    assert (answer.headers["x-request-id"] == incoming) is echoed


def test_unexpected_error_is_a_500_with_the_request_id_and_no_traceback(
    app_client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        answer = app_client.get("/test/boom", headers={"x-request-id": "req-500"})
    assert answer.status_code == 500
    assert answer.headers["x-request-id"] == "req-500"
    assert answer.json() == {"error": "Internal server error (request id req-500)"}
    lines = json_lines(caplog)
    error = next(line for line in lines if line["level"] == "error")
    assert "kaboom" in str(error["exc"]) and error["request_id"] == "req-500"
    access = [line for line in lines if line["logger"] == "usagebook.access"]
    assert access[-1]["status"] == 500 and access[-1]["route"] == "/test/boom"


def test_access_log_is_one_json_line_per_request(
    harness: Harness, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="usagebook.access"):
        answer = harness.get(USAGE + "?limit=3", tenant)
    access = [line for line in json_lines(caplog) if line["logger"] == "usagebook.access"]
    assert len(access) == 1
    line = access[0]
    assert {k: line[k] for k in ("method", "route", "status", "request_id")} == {
        "method": "GET", "route": USAGE, "status": 200,
        "request_id": answer.headers["x-request-id"],
    }
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0


def test_keys_tokens_and_secrets_never_reach_the_logs(
    app_client: TestClient, harness: Harness, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    secrets = [tenant.admin_key, tenant.inference_key, OPERATOR_TOKEN, harness.settings.secret_key]
    with caplog.at_level(logging.DEBUG):
        for secret in secrets:
            bearer = {"Authorization": f"Bearer {secret}"}
            app_client.get(USAGE, headers=bearer)
            app_client.get(USAGE + "?limit=0", headers=bearer)
            app_client.get("/test/boom", headers=bearer)
            app_client.post("/test/echo", headers=bearer, content=b"{not json")
            app_client.get(USAGE, headers={"Authorization": f"Bearer {secret}x"})
    written = "\n".join(JsonFormatter().format(record) for record in caplog.records)
    access = [line for line in map(json.loads, written.splitlines())
              if line["logger"] == "usagebook.access"]
    assert len(access) == 5 * len(secrets)
    for secret in secrets:
        assert secret and secret not in written
        assert secret not in caplog.text  # nor in what any other handler would have printed


def test_secret_shapes_are_scrubbed_even_if_code_logs_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO):
        logging.getLogger("usagebook.test").info(
            "oops %s / Authorization: Bearer %s", "ubk_abcDEF123-_x", "operator-token-1")
    line = JsonFormatter().format(caplog.records[-1])
    assert "ubk_abcDEF123" not in line and "operator-token-1" not in line
    assert json.loads(line)["msg"] == "oops [redacted] / Authorization: [redacted]"


def sample(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def test_metrics_count_requests_by_route_template_and_status(
    harness: Harness, tenant: Tenant
) -> None:
    ok = {"method": "GET", "route": USAGE, "status": "200"}
    unmatched = {"method": "GET", "route": "<unmatched>", "status": "404"}
    before = (sample("usagebook_http_requests_total", **ok),
              sample("usagebook_http_request_duration_seconds_count", **ok),
              sample("usagebook_http_requests_total", **unmatched))
    for _ in range(3):
        assert harness.get(USAGE, tenant).status_code == 200
    harness.get("/no/such/path/" + tenant.account_id)
    after = (sample("usagebook_http_requests_total", **ok),
             sample("usagebook_http_request_duration_seconds_count", **ok),
             sample("usagebook_http_requests_total", **unmatched))
    assert [b - a for a, b in zip(before, after, strict=True)] == [3, 3, 1]
    text = harness.get("/metrics")
    assert text.status_code == 200 and text.headers["content-type"].startswith("text/plain")
    series = f'usagebook_http_requests_total{{method="GET",route="{USAGE}",status="200"}}'
    assert series in text.text
    for name in ("usagebook_usage_events_total", "usagebook_analytics_cache_lookups_total",
                 "usagebook_rate_limited_requests_total"):
        assert name in text.text
    assert tenant.account_id not in text.text  # raw paths never become labels
    docs = {"method": "GET", "route": "/openapi.json", "status": "200"}
    before_docs = sample("usagebook_http_requests_total", **docs)
    assert harness.get("/openapi.json").status_code == 200
    assert sample("usagebook_http_requests_total", **docs) == before_docs + 1


def test_recorded_duplicate_and_conflicting_events_are_counted(
    harness: Harness, tenant: Tenant
) -> None:
    statuses = ("recorded", "duplicate", "conflict")
    before = [sample("usagebook_usage_events_total", status=s) for s in statuses]
    event = {"requestId": "m-1", "sku": "llama-3.3-70b-llm-input-mtoken", "units": "1",
             "accountId": tenant.account_id}
    operator = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    for events in ([event, {**event, "requestId": "m-2"}], [event, {**event, "units": "2"}]):
        answer = harness.client.post("/api/v1/usage/events", json={"events": events},
                                     headers=operator)
        assert answer.status_code == 200, answer.text
    after = [sample("usagebook_usage_events_total", status=s) for s in statuses]
    assert [b - a for a, b in zip(before, after, strict=True)] == [2, 1, 1]


def test_recording_and_cache_counters_move_when_called() -> None:
    before = [sample("usagebook_usage_events_total", status=s)
              for s in ("recorded", "duplicate", "conflict")]
    hits = sample("usagebook_analytics_cache_lookups_total", result="hit")
    metrics.count_recording(5, 2, 1)
    metrics.count_cache(hit=True)
    after = [sample("usagebook_usage_events_total", status=s)
             for s in ("recorded", "duplicate", "conflict")]
    assert [b - a for a, b in zip(before, after, strict=True)] == [5, 2, 1]
    assert sample("usagebook_analytics_cache_lookups_total", result="hit") == hits + 1


def test_analytics_cache_lookups_are_counted(harness: Harness, tenant: Tenant) -> None:
    before = [sample("usagebook_analytics_cache_lookups_total", result=r) for r in ("hit", "miss")]
    for _ in range(3):
        assert harness.get("/api/v1/billing/usage-analytics?lookback=3d", tenant).status_code == 200
    after = [sample("usagebook_analytics_cache_lookups_total", result=r) for r in ("hit", "miss")]
    assert [b - a for a, b in zip(before, after, strict=True)] == [2, 1]


def test_body_over_the_limit_is_a_413_declared_or_streamed(app_client: TestClient) -> None:
    big = b'{"a": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    declared = app_client.post("/test/echo", content=big,
                               headers={"content-type": "application/json"})
    assert declared.status_code == 413 and set(declared.json()) == {"error"}

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(big), 256 * 1024):
            yield big[start:start + 256 * 1024]

    streamed = app_client.post("/test/echo", content=chunks(),
                               headers={"content-type": "application/json"})
    assert streamed.status_code == 413 and set(streamed.json()) == {"error"}
    fits = app_client.post("/test/echo", json={"a": "x" * 1000, "b": 1})
    assert fits.status_code == 200 and fits.json() == {"keys": 2}


def test_malformed_json_is_a_400_detailed_error(app_client: TestClient) -> None:
    answer = app_client.post("/test/echo", content=b'{"a": ',
                             headers={"content-type": "application/json"})
    assert answer.status_code == 400
    assert set(answer.json()) == {"error", "details"}
