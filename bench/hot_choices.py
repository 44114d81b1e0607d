"""Benchmark: the small choices in hot code whose comments say "cheaper", each beside what it
replaced, in the same run (CPU time of this process, best of five, nanoseconds per call).

    .venv/bin/python -m bench.hot_choices

- money.format_decimal: str() of a Decimal (plain unless the exponent is large) vs format();
- logs.scrub: a substring test before the secret-shape regex vs the regex on every value;
- store.rows.NewEntry / EntryRow: a plain slots dataclass vs a frozen one (14 fields);
- ledger.recording: NewEntry built positionally vs by keyword;
- timeutil.format_ms: a cached stamp vs datetime + strftime per call.

Figures go to docs/performance.md, section "Small choices in hot code".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import fields, make_dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from usagebook.logs import _SECRET_SHAPES, REDACTED
from usagebook.store.rows import NewEntry
from usagebook.timeutil import format_ms


def per_call_ns(work: Callable[[], Any], calls: int = 200_000) -> float:
    best = float("inf")
    for _ in range(5):  # the best of five runs: the machine is shared
        started = time.process_time()
        for _ in range(calls):
            work()
        best = min(best, (time.process_time() - started) / calls * 1e9)
    return best


# NewEntry's fields, frozen: what a frozen dataclass would cost recording per event.
FrozenEntry = make_dataclass("FrozenEntry", [(f.name, Any) for f in fields(NewEntry)],
                             slots=True, frozen=True)


def _strftime(ms: int) -> str:
    seconds, millis = divmod(ms, 1000)
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{millis:03d}Z"


def main() -> None:
    value = Decimal("0.001234000")
    line = '{"method": "POST", "route": "/api/v1/usage/events", "status": 200}'
    values = ("acct", None, 1, "sku", value, value, value, "USD", "req", None, None, None, None,
              None)
    by_name: dict[str, Any] = {f.name: v for f, v in zip(fields(NewEntry), values, strict=True)}
    ms = 1_781_550_310_504
    rows = [
        ("format_decimal: str()", lambda: str(value), "format(value, 'f')",
         lambda: format(value, "f")),
        ("scrub: substring test first", lambda: "ubk_" in line or "earer" in line.lower(),
         "the regex on every value", lambda: _SECRET_SHAPES.sub(REDACTED, line)),
        ("NewEntry: plain slots dataclass", lambda: NewEntry(*values),
         "frozen slots dataclass", lambda: FrozenEntry(*values)),
        ("NewEntry: positional", lambda: NewEntry(*values), "by keyword",
         lambda: NewEntry(**by_name)),
        ("format_ms: cached stamp", lambda: format_ms(ms), "datetime + strftime",
         lambda: _strftime(ms)),
    ]
    for name, chosen, other_name, other in rows:
        mine, theirs = per_call_ns(chosen), per_call_ns(other)
        print(f"| {name} | {mine:,.0f} ns | {other_name} | {theirs:,.0f} ns | "
              f"{theirs / mine:.1f}x |")


if __name__ == "__main__":
    main()
