"""Tag filters as query parameters, `tag.<key>=<value>`: read, checked, and matched.

A filter keeps the entries whose tags hold that key with exactly that value; several filters
must all hold. Keys and values follow the recording rules (`ledger.events`), so a filter that
could never match a stored tag is refused instead of silently matching nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from usagebook.errors import ProblemCollector
from usagebook.ledger.events import MAX_TAGS, TAG_KEY, TAG_VALUE, tag_key_ok, tag_value_ok

PREFIX = "tag."
TagFilters = tuple[tuple[str, str], ...]  # (key, value) pairs, sorted by key


def parse_tag_filters(params: Iterable[tuple[str, str]], problems: ProblemCollector,
                      most: int = MAX_TAGS) -> TagFilters:
    """The `tag.<key>=<value>` parameters among `params`; each bad one is added to `problems`
    under its own name."""
    found: dict[str, str] = {}
    for name, value in params:
        if not name.startswith(PREFIX):
            continue
        key = name[len(PREFIX):]
        if not tag_key_ok(key):
            problems.add(name, f"the tag key must match {TAG_KEY}")
        elif key in found:
            problems.add(name, "must be given once")
        elif not tag_value_ok(value):
            problems.add(name, f"the tag value must match {TAG_VALUE}")
        else:
            found[key] = value
    if len(found) > most:
        problems.add(PREFIX + "<key>", f"at most {most} tag filters")
    return tuple(sorted(found.items()))
