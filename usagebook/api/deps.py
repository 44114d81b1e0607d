"""Typed dependencies that keep route signatures short: the database and the calling key."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from usagebook.ledger.keys import Caller, authenticate
from usagebook.ledger.ratelimit import RateLimiter
from usagebook.settings import Settings
from usagebook.store.engine import Database

_bearer = HTTPBearer(auto_error=False, description="An ADMIN API key of the account")


def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


DatabaseDep = Annotated[Database, Depends(get_database)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def get_rate_limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.rate_limiter
    return limiter


async def admin_caller(database: DatabaseDep, credentials: Credentials,
                       limiter: Annotated[RateLimiter, Depends(get_rate_limiter)]) -> Caller:
    """The account behind an ADMIN bearer key; 401 for anything else, 429 once the key is over
    its rate limit (every customer route takes its caller from here, so all are limited)."""
    caller = await authenticate(database, credentials.credentials if credentials else None)
    await limiter.check(caller.key_id)
    return caller


AdminCaller = Annotated[Caller, Depends(admin_caller)]
