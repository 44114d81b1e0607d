"""A real `usagebook serve` for the client's tests (SQLite, a demo account without entries,
recording on), and a faulty proxy in front of it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.client import Ledger, ledger
from tests.support.faulty_proxy import FaultyProxy


@pytest.fixture
def proxy(ledger: Ledger) -> Iterator[FaultyProxy]:
    with FaultyProxy(ledger.url).running() as running:
        yield running


__all__ = ["ledger", "proxy"]  # `ledger` is defined in tests.support.client
