"""Benchmark: CPU per call of the request parameter checks (the ledger's, and the HTTP edge's
naming of bad fields), in whichever usagebook tree is first on the path, so that two trees can
be compared in one sitting (CPU time of this process, best of five, microseconds per call):

    PYTHONPATH=$PWD .venv/bin/python bench/param_checks.py after
    PYTHONPATH=/path/to/older/tree .venv/bin/python bench/param_checks.py before

- usage_ok / usage_bad: GET /billing/usage's parameters parsed and checked (api.usage_params and
  ledger.usage), all good, or all eight bad with the 400 body built (names mapped when the tree
  maps them);
- history_ok, series_ok, period_ok: ledger.history, analytics.series_query, analytics.period.

Figures go to docs/performance.md, section "Parameter checks".
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import date
from typing import Any

from usagebook.api.errors import detailed_error
from usagebook.api.usage_params import usage_query
from usagebook.errors import InvalidInput
from usagebook.ledger.analytics.period import resolve_period
from usagebook.ledger.analytics.series_query import RawAnalyticsQuery, check_query
from usagebook.ledger.history import HistoryQuery
from usagebook.timeutil import parse_date_time

try:  # a tree from before the ledger named fields by domain names has no mapping
    from usagebook.api.usage import USAGE_FIELDS as NAMES  # type: ignore[attr-defined]
except ImportError:
    NAMES = None

START, END = parse_date_time("2026-01-01T00:00:00Z"), parse_date_time("2026-02-01T00:00:00Z")
RAW = RawAnalyticsQuery("acct_x", "2026-01-01", "2026-01-31", "Europe/Paris", "day", "model",
                        "llama", "key_abc", "sku-x", "USD", (("project", "alpha"),))


def usage_ok() -> None:
    usage_query("acct_x", currency="USD", start_date="2026-01-01T00:00:00Z",
                end_date="2026-02-01T00:00:00Z", limit="100", page="2", sort_order="asc",
                api_key_id="key_abc123", model_id="llama-3.3-70b")


def usage_bad() -> None:
    try:
        usage_query("acct_x", currency="EUR", start_date="2026-03-01T00:00:00Z",
                    end_date="2026-02-01T00:00:00Z", limit="0", page="0", sort_order="up",
                    api_key_id="nope", model_id="x" * 201)
    except InvalidInput as exc:
        shown = exc.named(NAMES) if NAMES else exc
        detailed_error(shown.problems, shown.message)


CASES: dict[str, Callable[[], Any]] = {
    "usage_ok": usage_ok,
    "usage_bad": usage_bad,
    "history_ok": lambda: HistoryQuery("acct_x", None, "USD", START, END, 500).validate(),
    "series_ok": lambda: check_query(RAW),
    "period_ok": lambda: resolve_period(date(2026, 6, 1), None, "2026-05-01", "2026-05-30"),
}


def per_call_us(work: Callable[[], Any], calls: int = 20_000) -> float:
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        for _ in range(calls):
            work()
        best = min(best, time.process_time() - started)
    return best / calls * 1e6


def main() -> None:
    label = sys.argv[1] if len(sys.argv) > 1 else "this tree"
    for name, work in CASES.items():
        print(f"{label:>10} {name:<11} {per_call_us(work):6.2f} us")


if __name__ == "__main__":
    main()
