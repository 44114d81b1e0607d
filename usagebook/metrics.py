"""Prometheus metrics, served at `/metrics`.

Counters are process-wide (the Prometheus convention: one registry per process, scraped per
process). Other modules count through the small functions below, so none of them needs to know
metric names or labels:

    record_request(method, route, status, seconds)   the HTTP middleware, once per request
    count_recording(recorded, duplicates, conflicts) the recording path, once per batch
    count_cache(hit)                                 the analytics cache, once per lookup
    count_overspend(limit_class, amount)             settlement, per committed overspend

Labels hold route templates (`/api/v1/billing/usage`), never raw paths, so a scan of random URLs
cannot grow the series without bound.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)

HTTP_REQUESTS = Counter(
    "usagebook_http_requests", "HTTP requests answered, by route template and status",
    ["method", "route", "status"], registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "usagebook_http_request_duration_seconds", "Time to answer, by route template and status",
    ["method", "route", "status"], registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
EVENTS = Counter(
    "usagebook_usage_events", "Usage events received by the recording path, by outcome",
    ["status"], registry=REGISTRY,
)
CACHE = Counter(
    "usagebook_analytics_cache_lookups", "Analytics cache lookups, by result",
    ["result"], registry=REGISTRY,
)
OVERSPEND = Counter(
    "usagebook_overspend", "Recorded cost beyond what holds had authorized, by limit class "
    "(usd: USD and BUNDLED_CREDITS, diem: DIEM); exact figures at GET /api/v1/billing/limits",
    ["limit_class"], registry=REGISTRY,
)
RATE_LIMITED = Counter(
    "usagebook_rate_limited_requests", "Requests refused by the per-key rate limit",
    registry=REGISTRY,
)
REPLICA_LAG = Gauge(
    "usagebook_replica_lag_seconds", "How far the read standby was behind the primary when "
    "last measured (+Inf when it could not be asked; absent without a standby)",
    registry=REGISTRY,
)
REPLICA_READS = Counter(
    "usagebook_lagging_reads", "Reads that may lag (analytics, export), by where they went",
    ["target"], registry=REGISTRY,
)

# Pre-create the label values, so dashboards see zeros rather than absent series.
for _status in ("recorded", "duplicate", "conflict"):
    EVENTS.labels(_status)
for _result in ("hit", "miss"):
    CACHE.labels(_result)
for _class in ("usd", "diem"):
    OVERSPEND.labels(_class)

CONTENT_TYPE = CONTENT_TYPE_LATEST


_request_series: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def record_request(method: str, route: str, status: int, seconds: float) -> None:
    # Labelled children are looked up once per (method, route, status): this runs per request.
    key = (method, route, status)
    series = _request_series.get(key)
    if series is None:
        labels = (method, route, str(status))
        series = (HTTP_REQUESTS.labels(*labels), HTTP_LATENCY.labels(*labels))
        _request_series[key] = series
    series[0].inc()
    series[1].observe(seconds)


def count_recording(recorded: int, duplicates: int = 0, conflicts: int = 0) -> None:
    EVENTS.labels("recorded").inc(recorded)
    EVENTS.labels("duplicate").inc(duplicates)
    EVENTS.labels("conflict").inc(conflicts)


def count_cache(hit: bool) -> None:
    CACHE.labels("hit" if hit else "miss").inc()


def count_overspend(limit_class: str, amount: Decimal) -> None:
    # Prometheus keeps floats: the metric is an alarm, the exact figure is the ledger's.
    OVERSPEND.labels(limit_class).inc(float(amount))


def exposition() -> bytes:
    """The Prometheus text format of every metric above."""
    return generate_latest(REGISTRY)
