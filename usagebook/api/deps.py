"""Typed dependencies that keep route signatures short: the database and the calling key."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from usagebook.ledger.keys import Caller, authenticate
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


async def admin_caller(database: DatabaseDep, credentials: Credentials) -> Caller:
    """The account behind an ADMIN bearer key; 401 for anything else."""
    return await authenticate(database, credentials.credentials if credentials else None)


AdminCaller = Annotated[Caller, Depends(admin_caller)]
