"""The ASGI application: create_app(settings) wires routers and error handlers; the lifespan
owns the database engine."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from usagebook import __version__
from usagebook.api import (
    admission,
    alerts,
    health,
    keys,
    limits,
    local_analytics,
    observability,
    usage,
    webhooks,
)
from usagebook.api import analytics as usage_analytics
from usagebook.api import balances as account_balances
from usagebook.api import history as usage_history
from usagebook.api import recording as usage_recording
from usagebook.api.client_address import trusted_networks
from usagebook.api.dashboard import install_dashboard
from usagebook.api.docs import install_docs
from usagebook.api.errors import install_error_handlers
from usagebook.api.head import HeadAsGet
from usagebook.api.keys import KEY_CREATIONS_PER_MINUTE
from usagebook.api.middleware import RequestMiddleware
from usagebook.api.openapi import document_real_answers
from usagebook.api.webhook_events import WEBHOOK_WIRE
from usagebook.ledger.analytics.cache import build_cache
from usagebook.ledger.delivery import delivering
from usagebook.ledger.key_status import RefusalLog
from usagebook.ledger.partitions import partition_upkeep
from usagebook.ledger.ratelimit import AddressGuard, RateLimiter
from usagebook.settings import Settings
from usagebook.store.engine import create_database


def tune_garbage_collector() -> None:
    """For a serving process, once its app is built (`usagebook serve` calls it; tests, which
    build many apps in one process, do not).

    Recording a batch of 1000 events allocates tens of thousands of container objects; at
    CPython's default threshold (700) that is dozens of young collections per batch, each
    walking everything the batches in flight hold, and every full collection walks the whole
    framework too. Fewer collections, and a startup heap that is never walked again (freeze),
    save most of that walking (measured in docs/performance.md, Recording). Garbage cycles
    still go; they wait a little longer."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 10)


def create_app_from_env() -> FastAPI:
    """The app of `usagebook serve --workers N`: each worker process builds its own from the
    `USAGEBOOK_*` environment that `serve` resolved and exported before starting them."""
    from usagebook.logs import configure_logging

    configure_logging()  # a spawned worker starts with no logging configured
    app = create_app(Settings.from_env())
    tune_garbage_collector()
    return app


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.database = create_database(settings)
        app.state.database.keys.start()  # revocations published by other processes
        app.state.analytics_cache = build_cache(settings.redis_url)
        app.state.rate_limiter = RateLimiter.from_settings(settings.rate_limit_per_minute,
                                                           settings.redis_url)
        app.state.refusal_log = RefusalLog(app.state.database)
        app.state.failed_auth_guard = AddressGuard.from_settings(
            settings.failed_auth_per_minute, settings.redis_url)
        app.state.key_creation_limiter = RateLimiter.from_settings(
            KEY_CREATIONS_PER_MINUTE, settings.redis_url,
            scope="API key creations a minute per account")
        try:
            async with (delivering(app.state.database, settings, WEBHOOK_WIRE),
                        partition_upkeep(app.state.database, settings.partition_check_seconds)):
                yield
        finally:
            await app.state.rate_limiter.close()
            await app.state.key_creation_limiter.close()
            await app.state.failed_auth_guard.close()
            await app.state.analytics_cache.close()
            await app.state.database.dispose()

    app = FastAPI(
        title="usagebook",
        version=__version__,
        description="Usage-billing ledger for AI inference APIs, wire-compatible with "
        "Venice.ai's billing endpoints.",
        lifespan=lifespan,
        docs_url=None,  # FastAPI's pages load Swagger UI and ReDoc from a CDN: see api/docs.py
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.trusted_networks = trusted_networks(settings.trusted_proxies)
    install_error_handlers(app)
    document_real_answers(app)
    app.add_middleware(HeadAsGet)  # inside the request middleware, which logs the HEAD
    app.add_middleware(RequestMiddleware, max_body_bytes=settings.max_body_bytes)
    app.include_router(usage.router)
    app.include_router(usage_analytics.router)
    app.include_router(usage_history.router)
    app.include_router(local_analytics.router)
    app.include_router(account_balances.router)
    app.include_router(keys.router)
    app.include_router(usage_recording.router)
    app.include_router(admission.router)
    app.include_router(limits.router)
    app.include_router(health.router)
    app.include_router(observability.router)
    app.include_router(webhooks.router)
    app.include_router(alerts.router)

    install_dashboard(app)
    install_docs(app)

    return app
