"""What the client raises.

    ClientError
    ├── ApiError               the server answered with an error status; `status`, `message`
    │   ├── InvalidRequest     400: `details` names each bad parameter or event field
    │   ├── Unauthorized       401: a wrong key or operator token, or recording disabled
    │   ├── Refused            402: authorize refused the estimate (limit or balance)
    │   ├── RateLimited        429: `retry_after` seconds
    │   └── ServerError        5xx, after the retries
    ├── Unreachable            the server could not be reached, after the retries
    ├── QueueFull              a recorder's queue stayed full past the caller's timeout
    └── RecorderClosed         an event was added to a closed recorder
"""

from __future__ import annotations

from typing import Any


class ClientError(Exception):
    """Base of everything the client raises."""


class ApiError(ClientError):
    def __init__(self, status: int, message: str, body: Any = None,
                 retry_after: float | None = None) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.body = body
        self.retry_after = retry_after


class InvalidRequest(ApiError):
    @property
    def details(self) -> dict[str, Any]:
        details = self.body.get("details") if isinstance(self.body, dict) else None
        return details if isinstance(details, dict) else {}


class Unauthorized(ApiError):
    pass


class Refused(ApiError):
    pass


class RateLimited(ApiError):
    pass


class ServerError(ApiError):
    pass


class Unreachable(ClientError):
    pass


class QueueFull(ClientError):
    pass


class RecorderClosed(ClientError):
    pass


_BY_STATUS: dict[int, type[ApiError]] = {400: InvalidRequest, 401: Unauthorized, 402: Refused,
                                         429: RateLimited}


def error_for(status: int, message: str, body: Any, retry_after: float | None) -> ApiError:
    kind = _BY_STATUS.get(status, ServerError if status >= 500 else ApiError)
    return kind(status, message, body, retry_after)
