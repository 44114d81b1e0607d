"""GET /billing/usage-analytics: shape, parameters, naming and ranking rules, on both backends."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import jsonschema
import pytest

from tests.support.analytics import ANALYTICS_SCHEMA, days_back, entry, exact, get, today
from tests.support.factories import random_entries, store_entries
from tests.support.harness import Harness, Tenant
from usagebook.ledger.keys import KeyType, create_key
from usagebook.timeutil import day_start_ms


def test_answer_follows_venice_schema_with_a_row_per_day(harness: Harness, tenant: Tenant) -> None:
    keys = (None, tenant.admin_key_id, tenant.inference_key_id)
    made = random_entries(tenant.account_id, 80, seed=11, span_ms=10 * 86_400_000, key_ids=keys)
    harness.call(lambda db: store_entries(db, made))
    answer = get(harness, tenant)
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "private, max-age=600"
    body = answer.json()
    jsonschema.validate(body, ANALYTICS_SCHEMA)
    assert body["lookback"] == "7d"
    assert [row["date"] for row in body["byDate"]] == [d.isoformat() for d in days_back(7)]
    assert [row["date"] for row in body["byModelDaily"]] == [day_start_ms(d) for d in days_back(7)]
    assert set(body) == set(ANALYTICS_SCHEMA["required"])


def test_days_without_usage_are_zero_rows(harness: Harness, tenant: Tenant) -> None:
    day = today() - timedelta(days=2)
    made = [entry(tenant.account_id, "flux-dev-image-unit", "3", "USD", day=day, request_id="r1")]
    harness.call(lambda db: store_entries(db, made))
    body = exact(get(harness, tenant, lookback="5d"))
    values = [(row["date"], row["USD"], row["DIEM"]) for row in body["byDate"]]
    assert values == [(d.isoformat(), Decimal("0.03") if d == day else 0, 0) for d in days_back(5)]
    assert body["byModelDaily"] == [{"date": day_start_ms(d), "FLUX Standard": 0}
                                    for d in days_back(5)]


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"lookback": "0d"}, "lookback"),
        ({"lookback": "7x"}, "lookback"),
        ({"lookback": "07d"}, "lookback"),
        ({"startDate": "2026-01-01"}, "endDate"),
        ({"endDate": "2026-01-01"}, "startDate"),
        ({"startDate": "2026-01-05", "endDate": "2026-01-04"}, "startDate"),
        ({"startDate": "2026-01-01", "endDate": "2026-04-01"}, "endDate"),
        ({"startDate": "2026-02-30", "endDate": "2026-03-01"}, "startDate"),
        ({"startDate": "2026-01-01T00:00:00Z", "endDate": "2026-01-02"}, "startDate"),
    ],
)
def test_bad_parameters_are_named(
    harness: Harness, tenant: Tenant, params: dict[str, str], named: str
) -> None:
    answer = get(harness, tenant, **params)
    assert answer.status_code == 400, answer.text
    assert answer.json()["details"][named]["_errors"]


def test_lookback_over_90_days_is_clamped(harness: Harness, tenant: Tenant) -> None:
    body = get(harness, tenant, lookback="365d").json()
    assert body["lookback"] == "90d"
    assert [row["date"] for row in body["byDate"]] == [d.isoformat() for d in days_back(90)]


def test_explicit_dates_cover_both_days(harness: Harness, tenant: Tenant) -> None:
    made = [entry(tenant.account_id, "venice-sd35-image-unit", "1", "DIEM",
                  day=today() - timedelta(days=n), request_id=f"r{n}") for n in range(0, 12)]
    harness.call(lambda db: store_entries(db, made))
    start, end = today() - timedelta(days=10), today() - timedelta(days=1)
    body = exact(get(harness, tenant, startDate=start.isoformat(), endDate=end.isoformat()))
    assert body["lookback"] == f"{start}:{end}"
    assert len(body["byDate"]) == 10
    assert all(row["DIEM"] == Decimal("0.01") for row in body["byDate"])
    assert body["byModel"][0]["totalDiem"] == Decimal("0.1")
    one_day = get(harness, tenant, startDate=end.isoformat(), endDate=end.isoformat()).json()
    assert len(one_day["byDate"]) == 1


def test_inference_key_is_refused(harness: Harness, tenant: Tenant) -> None:
    answer = harness.get("/api/v1/billing/usage-analytics",
                         headers={"Authorization": f"Bearer {tenant.inference_key}"})
    assert answer.status_code == 401
    assert answer.json() == {"error": "Admin API key required"}


def test_models_units_breakdown_and_types(harness: Harness, tenant: Tenant) -> None:
    day = today()
    account = tenant.account_id
    made = [
        entry(account, "qwen3-235b-llm-input-mtoken", "0.001", "DIEM", day=day, request_id="a"),
        entry(account, "qwen3-235b-llm-output-mtoken", "0.002", "USD", day=day, request_id="b"),
        entry(account, "qwen3-235b-llm-output-mtoken", "0.000001", "BUNDLED_CREDITS", day=day,
              request_id="c"),
        entry(account, "flux-dev-image-unit", "2", "DIEM", day=day, request_id="d"),
        entry(account, "text-embedding-bge-m3-embedding-input-mtoken", "1", "USD", day=day,
              request_id="e"),
    ]
    harness.call(lambda db: store_entries(db, made))
    body = exact(get(harness, tenant, lookback="1d"))
    models = {model["modelName"]: model for model in body["byModel"]}
    qwen = models["Qwen 3 235B"]
    assert (qwen["unitType"], qwen["modelType"]) == ("tokens", "LLM")
    assert qwen["totalUnits"] == 3001  # tokens, not millions of tokens
    assert qwen["totalUsd"] == Decimal("0.0090045") and qwen["totalDiem"] == Decimal("0.0009")
    assert {(part["type"], part["units"]) for part in qwen["breakdown"]} == {
        ("Input", 1000), ("Output", 2001)}
    assert "breakdown" not in models["FLUX Standard"]
    assert models["FLUX Standard"]["totalUnits"] == 2
    assert models["BGE-M3 Embedding"]["modelType"] is None
    daily = body["byModelDaily"][0]
    assert daily == {"date": day_start_ms(day), "Qwen 3 235B": Decimal("0.0009"),
                     "FLUX Standard": Decimal("0.02"), "BGE-M3 Embedding": 0}


def test_ranking_top_eight_and_every_name_on_every_day(harness: Harness, tenant: Tenant) -> None:
    day = today() - timedelta(days=1)
    skus = ["llama-3.3-70b-llm-output-mtoken", "qwen3-4b-llm-output-mtoken",
            "deepseek-r1-671b-llm-output-mtoken", "venice-sd35-image-unit", "flux-dev-image-unit",
            "hidream-image-unit", "upscaler-upscale-unit", "tts-kokoro-tts-mchars",
            "whisper-large-v3-asr-minute", "wan-2.5-video-second"]
    # venice-sd35, flux-dev and hidream cost the same: equal spend ranks by name.
    made = [entry(tenant.account_id, sku, "1", "DIEM", day=day, request_id=f"r{i}")
            for i, sku in enumerate(skus)]
    harness.call(lambda db: store_entries(db, made))
    body = exact(get(harness, tenant, lookback="3d"))
    spend = [(m["totalUsd"] + m["totalDiem"], m["modelName"]) for m in body["byModel"]]
    assert spend == sorted(spend, key=lambda item: (-item[0], item[1]))
    assert len(body["byModel"]) == 10
    assert body["topModels"] == [name for _, name in spend[:8]]
    for row in body["byModelDaily"]:
        assert set(row) == {"date", *body["topModels"]}
    image_names = [name for _, name in spend if name in ("Venice SD35", "FLUX Standard", "HiDream")]
    assert image_names == ["FLUX Standard", "HiDream", "Venice SD35"]


def test_key_chart_names_are_unique_and_never_date(harness: Harness, tenant: Tenant) -> None:
    async def keys(db: object) -> list[str]:
        made = []
        for description in ("", "Twin", "Twin", "date", "Web App", "admin"):
            created = await create_key(db, tenant.account_id, KeyType.INFERENCE,  # type: ignore[arg-type]
                                       description)
            made.append(created.row.id)
        return made

    ids = harness.call(keys)
    key_ids = [None, tenant.admin_key_id, *ids]
    made = [entry(tenant.account_id, "flux-dev-image-unit", str(n + 1), "USD", day=today(),
                  key_id=key_id, request_id=f"k{n}") for n, key_id in enumerate(key_ids)]
    harness.call(lambda db: store_entries(db, made))
    body = exact(get(harness, tenant, lookback="1d"))
    names = {row["apiKeyId"]: row["description"] for row in body["byKey"]}
    empty, twin1, twin2, date_key, web_app_key, admin_twin = ids
    assert names[None] == "Web App"
    assert names[empty] == f"Key ...{empty[-6:]}"
    assert names[twin1] == f"Twin (...{twin1[-6:]})" and names[twin2] == f"Twin (...{twin2[-6:]})"
    assert names[date_key] == f"date (...{date_key[-6:]})"
    assert names[web_app_key] == f"Web App (...{web_app_key[-6:]})"
    assert names[tenant.admin_key_id] == f"admin (...{tenant.admin_key_id[-6:]})"
    assert names[admin_twin] == f"admin (...{admin_twin[-6:]})"
    assert len(set(names.values())) == len(names)
    # Spend grows with the key's position: the last key ranks first; only the top 8 chart.
    assert [row["apiKeyId"] for row in body["byKey"]] == list(reversed(key_ids))
    assert body["topKeyNames"] == [row["description"] for row in body["byKey"][:8]]
    assert set(body["byKeyDaily"][0]) == {"date", *body["topKeyNames"]}


def test_other_accounts_usage_never_shows(harness: Harness, tenant: Tenant) -> None:
    other = harness.tenant("other")
    made = [entry(other.account_id, "flux-dev-image-unit", "5", "USD", day=today(),
                  request_id="x")]
    harness.call(lambda db: store_entries(db, made))
    body = exact(get(harness, tenant, lookback="1d"))
    assert body["byDate"][0]["USD"] == 0
    assert body["byModel"] == [] and body["byKey"] == []
    assert body["byModelDaily"] == [{"date": day_start_ms(today())}]
