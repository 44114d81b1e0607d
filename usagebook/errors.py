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

Field names. The ledger names a bad field by its domain name: the attribute of its query or
input object, snake_case (`start`, `api_key_id`, `limits.usd`, `events.3.hold_id`), never by
what a client typed. A message that refers to another field does so by placeholder, `{name}`
with the other field's domain name:

    problems.add("start", "must not be after {end}")

Each edge shows the error through `InvalidInput.named(names)`, its own mapping of domain names
to the names its callers use: a path found whole in `names` is replaced (`limits.usd` ->
`limit-usd`), else its first segment and each segment after a list index (`limits` ->
`consumptionLimit`, `rows.2.model_type` -> `rows.2.modelType`), and each `{name}` placeholder
found in `names` is filled; anything else is shown as it is. So a mapping lists every field its
messages refer to, those spelt alike too (an unfilled `{end}` shows in the edge's tests), and
what a caller chose is never renamed: a segment below a name (the tag key in `tags.<key>`),
outside text in a message (a value, a file name), and a problem the edge itself found and
named as its callers spell it (`ProblemCollector.add(..., as_sent=True)`, e.g. a body's
unknown field `expires_ms`).

- HTTP: a route declares its mapping beside itself (`usagebook.api.field_names.wire_names`);
  the error handler in `usagebook.api.errors` applies it, the only place that does (to the
  placeholders of any other error's message too: a Conflict naming `{request_id}`).
- CLI: a command passes its mapping (option names, or a file's column names) to
  `usagebook.cli.common.run`, which applies it before printing the FAILED line.

With `{"start": "startDate", "end": "endDate"}` the problem above is shown as `startDate: must
not be after endDate`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping


class UsagebookError(Exception):
    """Base of every error usagebook raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(UsagebookError):
    """Bad input. `problems` maps a field path (e.g. `limit`, `events.3.units`) to its messages."""

    DEFAULT_MESSAGE = "Invalid request parameters"

    def __init__(self, problems: dict[str, list[str]], message: str = DEFAULT_MESSAGE,
                 as_sent: frozenset[str] = frozenset()):
        super().__init__(message)
        self.problems = problems
        self.as_sent = as_sent  # paths already named as the caller spells them

    @classmethod
    def single(cls, field: str, problem: str) -> InvalidInput:
        return cls({field: [problem]})

    def named(self, names: Mapping[str, str]) -> InvalidInput:
        """This error as an edge shows it (see the module's docstring): problems whose paths
        become equal are merged, in order of first appearance; paths in `as_sent` and their
        messages are kept as they are."""
        if not names:
            return self
        problems: dict[str, list[str]] = {}
        for path, messages in self.problems.items():
            if path in self.as_sent:
                shown, texts = path, list(messages)
            else:
                shown = _named_path(path, names)
                texts = [fill_names(text, names) if "{" in text else text for text in messages]
            if shown in problems:
                problems[shown] += texts
            else:
                problems[shown] = texts
        return InvalidInput(problems, fill_names(self.message, names), frozenset(problems))


def _named_path(path: str, names: Mapping[str, str]) -> str:
    if path in names or "." not in path:
        return names.get(path, path)
    parts = path.split(".")
    for index, part in enumerate(parts):
        if index == 0 or parts[index - 1].isdigit():  # a name, not a key a caller chose
            parts[index] = names.get(part, part)
    return ".".join(parts)


_PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]*)\}")


def fill_names(text: str, names: Mapping[str, str]) -> str:
    """`text` with each `{name}` placeholder that `names` holds replaced by its name there."""
    if "{" not in text:
        return text
    return _PLACEHOLDER.sub(lambda found: names.get(found[1], found[0]), text)


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
        self.as_sent: set[str] = set()

    def add(self, field: str, problem: str, *, as_sent: bool = False) -> None:
        """`field` by its domain name, or, `as_sent`, as the caller spelt it (an edge naming
        what it read: such a problem is never renamed)."""
        self.problems.setdefault(field, []).append(problem)
        if as_sent:
            self.as_sent.add(field)

    def error(self, message: str = InvalidInput.DEFAULT_MESSAGE) -> InvalidInput:
        return InvalidInput(self.problems, message, frozenset(self.as_sent))

    def raise_if_any(self, message: str = "Invalid request parameters") -> None:
        if self.problems:
            raise self.error(message)
