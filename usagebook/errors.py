"""The domain's exception tree. HTTP status codes live in `usagebook.api.errors`, not here.

    UsagebookError
    ├── InvalidInput          bad parameters; carries every problem at once, by field
    ├── NotAuthenticated      missing, unknown, revoked or expired key (never says which)
    ├── NotAllowed            a valid key of the wrong kind for the operation
    ├── NotFound              a named object does not exist
    ├── NotAcceptable         no media type the caller accepts can be served
    ├── Conflict              the operation clashes with stored state
    ├── RateLimited           too many requests; carries retry_after seconds
    ├── PaymentRequired       a spending limit or the balance refuses an admission; carries
    │                         retry_after seconds when the limit's window resets (else None)
    ├── StoreUnavailable      the database cannot be reached
    └── QueryTimeout          a query overran its time limit
"""

from __future__ import annotations


class UsagebookError(Exception):
    """Base of every error usagebook raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(UsagebookError):
    """Bad input. `problems` maps a field path (e.g. `limit`, `events.3.units`) to its messages."""

    DEFAULT_MESSAGE = "Invalid request parameters"

    def __init__(self, problems: dict[str, list[str]], message: str = DEFAULT_MESSAGE):
        super().__init__(message)
        self.problems = problems

    @classmethod
    def single(cls, field: str, problem: str) -> InvalidInput:
        return cls({field: [problem]})


class NotAuthenticated(UsagebookError):
    pass


class NotAllowed(UsagebookError):
    pass


class NotFound(UsagebookError):
    pass


class NotAcceptable(UsagebookError):
    pass


class Conflict(UsagebookError):
    pass


class RateLimited(UsagebookError):
    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PaymentRequired(UsagebookError):
    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StoreUnavailable(UsagebookError):
    pass


class QueryTimeout(UsagebookError):
    pass


class ProblemCollector:
    """Gathers validation problems so an operation can report all of them at once."""

    def __init__(self) -> None:
        self.problems: dict[str, list[str]] = {}

    def add(self, field: str, problem: str) -> None:
        self.problems.setdefault(field, []).append(problem)

    def raise_if_any(self, message: str = "Invalid request parameters") -> None:
        if self.problems:
            raise InvalidInput(self.problems, message)
