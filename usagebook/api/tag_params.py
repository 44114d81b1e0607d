"""Tag filters as query parameters, `tag.<key>=<value>` (the contract's "Tags"): read and checked
at the edge; the ledger takes the (key, value) pairs.

A filter keeps the entries whose tags hold that key with exactly that value; several filters
must all hold. Keys and values follow the recording rules (`ledger.events`, their one owner), so
a filter that could never match a stored tag is refused instead of silently matching nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from usagebook.errors import ProblemCollector
from usagebook.ledger.events import (
    MAX_TAGS,
    TAG_KEY,
    TAG_VALUE,
    TagFilters,
    tag_key_ok,
    tag_value_ok,
)

PREFIX = "tag."


def parse_tag_filters(params: Iterable[tuple[str, str]], problems: ProblemCollector,
                      most: int = MAX_TAGS) -> TagFilters:
    """The `tag.<key>=<value>` parameters among `params`, sorted by key; each bad one is added
    to `problems` under its own name, as sent."""
    found: dict[str, str] = {}
    for name, value in params:
        if not name.startswith(PREFIX):
            continue
        key = name[len(PREFIX):]
        if not tag_key_ok(key):
            problems.add(name, f"the tag key must match {TAG_KEY}", as_sent=True)
        elif key in found:
            problems.add(name, "must be given once", as_sent=True)
        elif not tag_value_ok(value):
            problems.add(name, f"the tag value must match {TAG_VALUE}", as_sent=True)
        else:
            found[key] = value
    if len(found) > most:
        problems.add(PREFIX + "<key>", f"at most {most} tag filters", as_sent=True)
    return tuple(sorted(found.items()))
