"""Typed dependencies that keep route signatures short: the database and the calling key.

Every dependency is `async def`, even when it only reads app state: FastAPI runs a plain
`def` dependency in a worker thread, a thread hand-off per dependency per request (about a
third of an authorize call's server CPU, measured with cProfile).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from usagebook.api.client_address import address_of
from usagebook.errors import NotAuthenticated, RateLimited
from usagebook.ledger.key_status import RefusalLog
from usagebook.ledger.keys import Caller, authenticate
from usagebook.ledger.ratelimit import AddressGuard, RateLimiter
from usagebook.ledger.records import Database
from usagebook.settings import Settings
from usagebook.timeutil import now_ms

_bearer = HTTPBearer(auto_error=False, description="An ADMIN API key of the account")


async def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


DatabaseDep = Annotated[Database, Depends(get_database)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def get_rate_limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.rate_limiter
    return limiter


async def get_refusal_log(request: Request) -> RefusalLog:
    refusals: RefusalLog = request.app.state.refusal_log
    return refusals


Limiter = Annotated[RateLimiter, Depends(get_rate_limiter)]
Refusals = Annotated[RefusalLog, Depends(get_refusal_log)]


async def admin_caller(request: Request, database: DatabaseDep, credentials: Credentials,
                       limiter: Limiter, refusals: Refusals) -> Caller:
    """The account behind an ADMIN bearer key; 401 for anything else, 429 once the key is over
    its rate limit (every customer route takes its caller from here or `any_caller`, so all
    are limited), or once the client's address has failed too often (before any lookup)."""
    caller = await _guarded(request, database, credentials, admin=True)
    await _count_request(caller, limiter, refusals)
    return caller


async def any_caller(request: Request, database: DatabaseDep, credentials: Credentials,
                     limiter: Limiter, refusals: Refusals) -> Caller:
    """As `admin_caller`, for the few routes an INFERENCE key may call about itself."""
    caller = await _guarded(request, database, credentials, admin=False)
    await _count_request(caller, limiter, refusals)
    return caller


async def _guarded(request: Request, database: Database,
                   credentials: HTTPAuthorizationCredentials | None, *, admin: bool) -> Caller:
    """`authenticate`, behind the per-address limit of failed authentications: a blocked
    address is refused before its key is looked up, and each failure counts against it."""
    guard: AddressGuard = request.app.state.failed_auth_guard
    address = address_of(request)
    guard.check(address)
    try:
        return await authenticate(database, credentials.credentials if credentials else None,
                                  admin=admin)
    except NotAuthenticated:
        await guard.failed(address)
        raise


async def _count_request(caller: Caller, limiter: RateLimiter, refusals: RefusalLog) -> None:
    try:
        await limiter.check(caller.key_id)
    except RateLimited:
        await refusals.note(caller, now_ms())
        raise


AdminCaller = Annotated[Caller, Depends(admin_caller)]
AnyCaller = Annotated[Caller, Depends(any_caller)]
