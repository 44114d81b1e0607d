"""The one place where errors become HTTP status codes and the contract's error bodies.

InvalidInput and FastAPI's own validation errors become a 400 DetailedError naming every bad
parameter (an InvalidInput's domain field names by the route's wire names, `api.field_names`);
the rest become a StandardError. Anything unexpected is a 500 carrying only a request
id: its text and traceback go to the log, never to the client.
"""

from __future__ import annotations

import logging
import sqlite3
import uuid
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from usagebook.api.exact_json import ExactJSONResponse
from usagebook.api.field_names import names_for
from usagebook.errors import (
    Conflict,
    InvalidInput,
    NotAcceptable,
    NotAllowed,
    NotAuthenticated,
    NotFound,
    PaymentRequired,
    QueryTimeout,
    RateLimited,
    StoreUnavailable,
    UsagebookError,
    fill_names,
)
from usagebook.plain_errors import error_path, plain_message

log = logging.getLogger("usagebook.api")
RETRY_UNAVAILABLE = 1  # seconds; a database that is back answers the retry at once

STATUS_BY_ERROR: dict[type[UsagebookError], int] = {
    InvalidInput: 400,
    NotAuthenticated: 401,
    NotAllowed: 401,  # Venice answers 401 (not 403) to an INFERENCE key on billing endpoints
    PaymentRequired: 402,
    NotFound: 404,
    NotAcceptable: 406,
    Conflict: 409,
    RateLimited: 429,
    StoreUnavailable: 503,
    QueryTimeout: 504,
}


def status_for(exc: UsagebookError) -> int:
    for kind in type(exc).__mro__:
        if kind in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[kind]
    return 500


def detailed_error(problems: dict[str, list[str]], message: str) -> dict[str, Any]:
    """The DetailedError body: nested `{"_errors": [...]}` objects, one level per path segment
    (`events.3.units` -> details.events.3.units._errors)."""
    details: dict[str, Any] = {"_errors": []}
    for path, messages in problems.items():
        node = details
        for segment in path.split(".") if path else []:
            node = node.setdefault(segment, {"_errors": []})
        node["_errors"].extend(messages)
    return {"error": message, "details": details}


def standard_error(
    status: int, message: str, headers: dict[str, str] | None = None
) -> ExactJSONResponse:
    return ExactJSONResponse({"error": message}, status_code=status, headers=headers)


async def _usagebook_error(request: Request, exc: Exception) -> ExactJSONResponse:
    assert isinstance(exc, UsagebookError)
    status = status_for(exc)
    if isinstance(exc, InvalidInput):
        # The ledger names fields by their domain names; the route says how its clients spell them.
        shown = exc.named(names_for(request))
        return ExactJSONResponse(detailed_error(shown.problems, shown.message), status_code=400)
    retry_after = exc.retry_after if isinstance(exc, RateLimited | PaymentRequired) else None
    if isinstance(exc, StoreUnavailable):
        retry_after = RETRY_UNAVAILABLE
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return standard_error(status, fill_names(exc.message, names_for(request)), headers)


def _field_path(loc: tuple[Any, ...]) -> str:
    """("query", "limit") -> "limit"; ("body", "events", 3, "units") -> "events.3.units"."""
    if loc and loc[0] in ("query", "body", "header", "path"):
        loc = loc[1:]
    return error_path(loc)


async def _validation_error(_request: Request, exc: Exception) -> ExactJSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems: dict[str, list[str]] = {}
    for error in exc.errors():
        problems.setdefault(_field_path(tuple(error.get("loc", ()))), []).append(
            plain_message(error)
        )
    return ExactJSONResponse(
        detailed_error(problems, "Invalid request parameters"), status_code=400
    )


async def _http_error(request: Request, exc: Exception) -> ExactJSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else "Request failed"
    headers = dict(exc.headers or {})
    if exc.status_code == 400:  # FastAPI's own, e.g. a JSON body that does not parse
        return ExactJSONResponse(detailed_error({"": [message]}, "Invalid request body"),
                                 status_code=400, headers=headers)
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request) or headers.get("Allow", "")
    return standard_error(exc.status_code, message, headers)


def _allowed_methods(request: Request) -> str:
    """Every method the OpenAPI description lists at this route's path. Starlette's own 405
    names only the methods of the first route that matched the path, though one path may be
    served by one route per method (GET and PUT /billing/limits)."""
    path = getattr(request.scope.get("route"), "path", None)
    operations = request.app.openapi().get("paths", {}).get(path, {})
    return ", ".join(sorted(method.upper() for method in operations))


# PostgreSQL SQLSTATEs that mean "not now" rather than "wrong": connection exceptions (08...),
# shutting down or starting up (57P01-57P03, asyncpg's CannotConnectNowError arrives as a plain
# DBAPIError), too many connections (53300), a statement or lock wait past the statement
# timeout (57014 query_canceled, 55P03 lock_not_available).
_UNAVAILABLE_SQLSTATES = ("08", "57P", "53300", "57014", "55P03")


def is_unavailable(exc: Exception) -> bool:
    """Errors that mean the database cannot be reached or did not answer in time right now,
    not that a query is wrong: refused or dropped connections, connect and statement timeouts
    (asyncpg's are plain TimeoutErrors), no free pooled connection in time."""
    if isinstance(exc, ConnectionError | TimeoutError | OperationalError | InterfaceError
                  | PoolTimeout | asyncpg.InterfaceError | sqlite3.OperationalError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    # The store's raw asyncpg paths raise the driver's own errors, SQLAlchemy wraps them.
    cause = exc.orig if isinstance(exc, DBAPIError) else exc
    sqlstate = str(getattr(cause, "sqlstate", None) or "")
    return sqlstate.startswith(_UNAVAILABLE_SQLSTATES)


async def _database_error(request: Request, exc: Exception) -> ExactJSONResponse:
    if is_unavailable(exc):
        log.warning("database unavailable: %s", type(exc).__name__)
        return standard_error(503, "Database unavailable, try again shortly",
                              {"Retry-After": str(RETRY_UNAVAILABLE)})
    return await _unexpected_error(request, exc)


async def _unexpected_error(request: Request, exc: Exception) -> ExactJSONResponse:
    request_id = getattr(request.state, "request_id", None) or uuid.uuid4().hex
    return internal_error(request_id, exc)


def internal_error(request_id: str, exc: BaseException) -> ExactJSONResponse:
    """The 500 for an unexpected exception: its traceback goes to the log, the client gets only
    the request id (also used by the request middleware, which sees such errors first)."""
    log.error(
        "unhandled error (request %s)", request_id, exc_info=exc, extra={"request_id": request_id}
    )
    return standard_error(500, f"Internal server error (request id {request_id})")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(UsagebookError, _usagebook_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(ConnectionError, _database_error)
    app.add_exception_handler(TimeoutError, _database_error)
    app.add_exception_handler(asyncpg.PostgresError, _database_error)
    app.add_exception_handler(asyncpg.InterfaceError, _database_error)
    app.add_exception_handler(sqlite3.OperationalError, _database_error)  # the raw reader
    app.add_exception_handler(PoolTimeout, _database_error)
    app.add_exception_handler(Exception, _unexpected_error)
