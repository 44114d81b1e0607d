"""The ledger names bad fields by domain names; each route's error body names them as its
clients spell them. These bodies are pinned byte for byte as they were before the ledger
stopped naming wire fields (see usagebook.errors and usagebook.api.field_names)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.harness import OPERATOR_TOKEN, Harness, Tenant

LONG = "x" * 201
# (method, path, request keywords): bad input whose problems the ledger names.
CASES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "usage-every-check": (
        "GET",
        "/api/v1/billing/usage",
        {
            "params": {
                "startDate": "2026-03-01T00:00:00Z",
                "endDate": "2026-02-01T00:00:00Z",
                "apiKeyId": "nope",
                "modelId": LONG,
                "sortOrder": "up",
                "limit": "0",
                "currency": "EUR",
                "page": "0",
            }
        },
    ),
    "usage-bad-date": (
        "GET",
        "/api/v1/billing/usage",
        {"params": {"startDate": "yesterday", "endDate": "2026-01-01T00:00:00Z", "apiKeyId": ""}},
    ),
    "history-every-check": (
        "GET",
        "/api/v1/billing/usage-history",
        {
            "params": {
                "pageSize": "0",
                "startTimestamp": "2026-02-01T00:00:00Z",
                "endTimestamp": "2026-01-01T00:00:00Z",
                "currency": "EUR",
            }
        },
    ),
    "history-cursor-and-filters": (
        "GET",
        "/api/v1/billing/usage-history",
        {
            "params": {
                "cursor": "abc",
                "pageSize": "10",
                "startTimestamp": "2026-02-01T00:00:00Z",
                "endTimestamp": "2026-03-01T00:00:00Z",
                "currency": "USD",
            }
        },
    ),
    "history-order": (
        "GET",
        "/api/v1/billing/usage-history",
        {
            "params": {
                "pageSize": "10",
                "startTimestamp": "2026-02-01T00:00:00Z",
                "endTimestamp": "2026-01-01T00:00:00Z",
            }
        },
    ),
    "history-tags": (
        "GET",
        "/api/v1/billing/usage-history",
        {
            "params": [
                ("tag.Bad", "x"),
                ("tag.a.b", "x"),
                ("tag.", "x"),
                ("tag.p", "ok"),
                ("tag.p", "again"),
                ("tag.q", "bad value!"),
                ("tag.r", "1"),
                ("tag.s", "2"),
                ("tag.t", "3"),
            ]
        },
    ),
    "history-cursor-and-tags": (
        "GET",
        "/api/v1/billing/usage-history",
        {"params": [("cursor", "abc"), ("tag.p", "x"), ("pageSize", "10")]},
    ),
    "series-tags": (
        "GET",
        "/api/v1/usage/analytics",
        {
            "params": [
                ("start", "2026-01-01"),
                ("end", "2026-01-02"),
                ("tag.p", "1"),
                ("tag.p", "2"),
                ("tag.", "x"),
                ("tag.a.b", "x"),
                ("tag.v", "a b"),
            ]
            + [(f"tag.k{n}", "v") for n in range(9)]
        },
    ),
    # Names a caller chose that happen to be domain names are shown as sent, never renamed.
    "history-tag-named-like-a-field": (
        "GET",
        "/api/v1/billing/usage-history",
        {"params": [("tag.start", "a"), ("tag.start", "b"), ("tag.page_size", "bad value!")]},
    ),
    "series-tag-named-like-a-field": (
        "GET",
        "/api/v1/usage/analytics",
        {
            "params": [
                ("start", "2026-01-01"),
                ("end", "2026-01-02"),
                ("tag.time_zone", "a"),
                ("tag.time_zone", "b"),
                ("tag.api_key", "no space"),
                ("tag.group_by", "x"),
                ("tag.group_by", "y"),
            ]
        },
    ),
    "key-extra-field-named-like-a-field": (
        "POST",
        "/api/v1/api_keys",
        {"json": {"apiKeyType": "INFERENCE", "description": "d", "expires_ms": 1, "limits": {}}},
    ),
    "events-extra-field-named-like-a-field": (
        "POST",
        "/api/v1/usage/events",
        {
            "json": {
                "events": [
                    {
                        "requestId": "r",
                        "sku": "llama-3.3-70b-llm-input-mtoken",
                        "units": "1",
                        "request_id": "r",
                        "hold_id": "h",
                    }
                ]
            },
            "headers": {"Authorization": f"Bearer {OPERATOR_TOKEN}"},
        },
    ),
    "history-bad-cursor": ("GET", "/api/v1/billing/usage-history", {"params": {"cursor": "abc"}}),
    "analytics-order": (
        "GET",
        "/api/v1/billing/usage-analytics",
        {"params": {"startDate": "2026-03-01", "endDate": "2026-02-01", "timeZone": "Mars/Base"}},
    ),
    "analytics-alone": (
        "GET",
        "/api/v1/billing/usage-analytics",
        {"params": {"startDate": "2026-01-01", "lookback": "x"}},
    ),
    "analytics-end-alone": (
        "GET",
        "/api/v1/billing/usage-analytics",
        {"params": {"endDate": "2026-13-01", "lookback": "7d"}},
    ),
    "analytics-too-long": (
        "GET",
        "/api/v1/billing/usage-analytics",
        {"params": {"startDate": "2025-01-01", "endDate": "2026-06-01", "lookback": "1234567d"}},
    ),
    "series-every-check": (
        "GET",
        "/api/v1/usage/analytics",
        {
            "params": {
                "start": "2026-03-01",
                "end": "2026-02-01",
                "timeZone": "Nowhere/Zone",
                "groupBy": "bogus",
                "apiKey": "k" * 41,
                "model": "",
                "sku": LONG,
                "granularity": "year",
                "currency": "EUR",
                "tag.": "x",
            }
        },
    ),
    "series-field-spelling": (
        "GET",
        "/api/v1/usage/analytics",
        {"params": {"start": "2026-01-01", "end": "2026-01-02", "groupBy": "api_key"}},
    ),
    "series-required": ("GET", "/api/v1/usage/analytics", {}),
    "series-too-long": (
        "GET",
        "/api/v1/usage/analytics",
        {
            "params": {
                "start": "2026-01-01",
                "end": "2026-03-01",
                "granularity": "hour",
                "groupBy": "tag:",
            }
        },
    ),
    "series-bad-dates": (
        "GET",
        "/api/v1/usage/analytics",
        {"params": {"start": "2026-02-30", "end": "20260301", "groupBy": "apiKey"}},
    ),
    "key-create": (
        "POST",
        "/api/v1/api_keys",
        {
            "json": {
                "apiKeyType": "INFERENCE",
                "description": "d" * 300,
                "expiresAt": "2020-01-01T00:00:00Z",
                "consumptionLimit": {"usd": 12345678901, "diem": "0.0000000001", "vcu": 1},
            }
        },
    ),
    "key-create-nul": (
        "POST",
        "/api/v1/api_keys",
        {"json": {"apiKeyType": "ADMIN", "description": "a\u0000b", "expiresAt": "2020-01-01"}},
    ),
    "key-limits": (
        "POST",
        "/api/v1/api_keys",
        {
            "content": (
                b'{"apiKeyType":"INFERENCE","description":"d","expiresAt":"2020-01-01T00:00:00Z",'
                b'"consumptionLimit":{"usd":0.0000000001,"diem":9999999999.5,"vcu":null}}'
            ),
            "headers": {"Content-Type": "application/json"},
        },
    ),
    "key-update": (
        "PATCH",
        "/api/v1/api_keys",
        {
            "json": {
                "id": "key_nope",
                "expiresAt": "2020-01-01T00:00:00Z",
                "consumptionLimit": {"usd": 0.5, "diem": None, "vcu": None},
            }
        },
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_error_body_names_the_fields_as_clients_spell_them(
    harness: Harness, tenant: Tenant, case: str
) -> None:
    method, path, keywords = CASES[case]
    keywords = {**keywords, "headers": {**tenant.admin, **keywords.get("headers", {})}}
    answer = harness.client.request(method, path, **keywords)
    message = MESSAGES.get(case, "Invalid request parameters")
    expected = {"error": message, "details": EXPECTED[case]}
    assert (answer.status_code, answer.text) == (400, json.dumps(expected, separators=(",", ":")))


MESSAGES = {"events-extra-field-named-like-a-field": "Invalid usage events"}
# The `details` of each answer (`error` is the generic message), in the order they are written.
EXPECTED: dict[str, dict[str, Any]] = {
    "analytics-alone": {
        "_errors": [],
        "lookback": {"_errors": ["must be a whole number of days such as 7d (1d or more)"]},
        "endDate": {"_errors": ["is required when startDate is given"]},
    },
    "analytics-end-alone": {
        "_errors": [],
        "startDate": {"_errors": ["is required when endDate is given"]},
        "endDate": {"_errors": ["must be a real calendar date (YYYY-MM-DD)"]},
    },
    "analytics-order": {
        "_errors": [],
        "startDate": {"_errors": ["must not be after endDate"]},
        "timeZone": {
            "_errors": ["must be an IANA time zone name such as Asia/Kolkata or America/New_York"]
        },
    },
    "analytics-too-long": {
        "_errors": [],
        "lookback": {"_errors": ["must have at most 6 digits (90d is used)"]},
        "endDate": {"_errors": ["must be at most 90 days after startDate, both included"]},
    },
    "history-tags": {
        "_errors": [],
        "tag": {
            "_errors": [],
            "Bad": {"_errors": ["the tag key must match ^[a-z][a-z0-9_]{0,31}$"]},
            "a": {
                "_errors": [],
                "b": {"_errors": ["the tag key must match ^[a-z][a-z0-9_]{0,31}$"]},
            },
            "": {"_errors": ["the tag key must match ^[a-z][a-z0-9_]{0,31}$"]},
            "p": {"_errors": ["must be given once"]},
            "q": {"_errors": ["the tag value must match ^[A-Za-z0-9._:@/+-]{1,64}$"]},
            "<key>": {"_errors": ["at most 2 tag filters"]},
        },
    },
    "history-cursor-and-tags": {
        "_errors": [],
        "pageSize": {"_errors": ["must not be sent with a cursor (the cursor carries it)"]},
        "tag": {
            "_errors": [],
            "<key>": {"_errors": ["must not be sent with a cursor (the cursor carries it)"]},
        },
    },
    "series-tags": {
        "_errors": [],
        "tag": {
            "_errors": [],
            "p": {"_errors": ["must be given once"]},
            "": {"_errors": ["the tag key must match ^[a-z][a-z0-9_]{0,31}$"]},
            "a": {
                "_errors": [],
                "b": {"_errors": ["the tag key must match ^[a-z][a-z0-9_]{0,31}$"]},
            },
            "v": {"_errors": ["the tag value must match ^[A-Za-z0-9._:@/+-]{1,64}$"]},
            "<key>": {"_errors": ["at most 8 tag filters"]},
        },
    },
    "history-tag-named-like-a-field": {
        "_errors": [],
        "tag": {
            "_errors": [],
            "start": {"_errors": ["must be given once"]},
            "page_size": {"_errors": ["the tag value must match ^[A-Za-z0-9._:@/+-]{1,64}$"]},
        },
    },
    "series-tag-named-like-a-field": {
        "_errors": [],
        "tag": {
            "_errors": [],
            "time_zone": {"_errors": ["must be given once"]},
            "api_key": {"_errors": ["the tag value must match ^[A-Za-z0-9._:@/+-]{1,64}$"]},
            "group_by": {"_errors": ["must be given once"]},
        },
    },
    "key-extra-field-named-like-a-field": {
        "_errors": [],
        "expires_ms": {"_errors": ["is not a known field"]},
        "limits": {"_errors": ["is not a known field"]},
    },
    "events-extra-field-named-like-a-field": {
        "_errors": [],
        "events": {
            "_errors": [],
            "0": {"_errors": [], "request_id": {"_errors": ["is not a known field"]}},
        },
    },
    "history-bad-cursor": {
        "_errors": [],
        "cursor": {"_errors": ["is not a cursor this server issued for this account"]},
    },
    "history-cursor-and-filters": {
        "_errors": [],
        "currency": {"_errors": ["must not be sent with a cursor (the cursor carries it)"]},
        "startTimestamp": {"_errors": ["must not be sent with a cursor (the cursor carries it)"]},
        "endTimestamp": {"_errors": ["must not be sent with a cursor (the cursor carries it)"]},
        "pageSize": {"_errors": ["must not be sent with a cursor (the cursor carries it)"]},
    },
    "history-every-check": {
        "_errors": [],
        "currency": {"_errors": ["must be USD, DIEM or BUNDLED_CREDITS"]},
        "pageSize": {"_errors": ["must be at least 10"]},
    },
    "history-order": {
        "_errors": [],
        "endTimestamp": {"_errors": ["must be later than startTimestamp"]},
    },
    "key-create": {
        "_errors": [],
        "description": {"_errors": ["must be at most 64 characters"]},
        "consumptionLimit": {"_errors": [], "diem": {"_errors": ["must be a number or null"]}},
    },
    "key-create-nul": {
        "_errors": [],
        "description": {"_errors": ["must not contain NUL characters"]},
        "expiresAt": {"_errors": ["must be in the future"]},
    },
    "key-limits": {
        "_errors": [],
        "expiresAt": {"_errors": ["must be in the future"]},
        "consumptionLimit": {
            "_errors": [],
            "usd": {"_errors": ["must have at most 9 decimal places"]},
            "diem": {"_errors": ["must be between 0 and 9999999999"]},
        },
    },
    "key-update": {"_errors": [], "expiresAt": {"_errors": ["must be in the future"]}},
    "series-bad-dates": {
        "_errors": [],
        "start": {"_errors": ["must be a real date in YYYY-MM-DD format"]},
        "end": {"_errors": ["must be a real date in YYYY-MM-DD format"]},
    },
    "series-every-check": {
        "_errors": [],
        "timeZone": {
            "_errors": ["must be an IANA time zone name such as Asia/Kolkata or America/New_York"]
        },
        "granularity": {"_errors": ["must be one of hour, day, week, month"]},
        "start": {"_errors": ["must not be after end"]},
        "groupBy": {"_errors": ["must be one of model, apiKey, sku, currency or tag:<key>"]},
        "model": {"_errors": ["must be 1 to 200 characters"]},
        "apiKey": {"_errors": ["must be 1 to 40 characters"]},
        "sku": {"_errors": ["must be 1 to 200 characters"]},
        "currency": {"_errors": ["must be one of USD, DIEM, BUNDLED_CREDITS"]},
        "tag": {"_errors": [], "": {"_errors": ["the tag key must match ^[a-z][a-z0-9_]{0,31}$"]}},
    },
    "series-field-spelling": {
        "_errors": [],
        "groupBy": {"_errors": ["must be one of model, apiKey, sku, currency or tag:<key>"]},
    },
    "series-required": {
        "_errors": [],
        "start": {"_errors": ["is required (a local date, YYYY-MM-DD)"]},
        "end": {"_errors": ["is required (a local date, YYYY-MM-DD)"]},
    },
    "series-too-long": {
        "_errors": [],
        "end": {"_errors": ["must be at most 31 days after start, both included (for hours)"]},
        "groupBy": {"_errors": ["must be one of model, apiKey, sku, currency or tag:<key>"]},
    },
    "usage-bad-date": {
        "_errors": [],
        "startDate": {"_errors": ["must be an ISO 8601 date-time, e.g. 2026-06-15T19:05:10.504Z"]},
        "apiKeyId": {"_errors": ["must be an API key id (key_ and up to 36 letters or digits)"]},
    },
    "usage-every-check": {
        "_errors": [],
        "sortOrder": {"_errors": ["must be asc or desc"]},
        "currency": {"_errors": ["must be one of USD, DIEM, BUNDLED_CREDITS, VCU"]},
        "limit": {"_errors": ["must be between 1 and 500"]},
        "page": {"_errors": ["must be 1 or more"]},
        "startDate": {"_errors": ["must not be after endDate"]},
        "apiKeyId": {"_errors": ["must be an API key id (key_ and up to 36 letters or digits)"]},
        "modelId": {"_errors": ["must be a model id (1 to 200 characters, no control characters)"]},
    },
}
