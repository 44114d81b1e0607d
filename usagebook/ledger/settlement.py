"""Settling holds when the usage they admitted is recorded, counting overspend, and releasing
a hold whose call recorded nothing.

Within one recording request (one transaction, under the accounts' locks):
- every event naming a live hold is charged in the hold's currency (`ledger.recording`), and
  the hold is released (settled) in that transaction, whatever the events cost;
- an event naming an expired or settled hold is recorded as if it named none;
- overspend, per account and limit class: for a live hold, what its newly recorded events cost
  beyond the hold's amount; for a hold no longer live, all they cost (nothing reserved it).
  It is added to the account's month (of the time of receipt) and to the metric
  `usagebook_overspend_total` once committed.

Releasing (`release_hold`, the authorize route's release): a gateway whose upstream
failed ends the hold at once instead of letting it block the key's limit until it expires. It
charges nothing, and repeating it changes nothing; a hold already settled by recording (or
expired) stays as it is, so a release racing a recording never undoes a charge.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncConnection

from usagebook import metrics
from usagebook.errors import NotFound, ProblemCollector
from usagebook.ledger.events import Event
from usagebook.ledger.key_usage import LIMIT_CLASS
from usagebook.store import holds as hold_store
from usagebook.store import limits as limit_store
from usagebook.store.engine import Database
from usagebook.store.holds import HoldRow
from usagebook.store.rows import NewEntry
from usagebook.timeutil import month_span, now_ms

ZERO = Decimal(0)
HOLD_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")  # the shape of any hold id (`ledger.ids`)


def check_hold(
    hold: HoldRow | None, event: Event, account_id: str, index: int, problems: ProblemCollector
) -> HoldRow | None:
    """The hold an event names, if it may name it; else the problem is added to `problems`."""
    where = f"events.{index}.hold_id"
    if hold is None:
        problems.add(where, "is not a known hold")
        return None
    if hold.account_id != account_id or (
        event.api_key_id is not None and event.api_key_id != hold.api_key_id
    ):
        problems.add(where, "belongs to another API key or account")
        return None
    return hold


class Settlement:
    """The holds one recording request names, and what its new entries charged on each."""

    def __init__(self, received_ms: int) -> None:
        self.received_ms = received_ms
        self.named: dict[str, HoldRow] = {}
        self.charged: defaultdict[tuple[str, str], Decimal] = defaultdict(Decimal)
        self.overspend: dict[tuple[str, str], Decimal] = {}

    def name(self, hold: HoldRow) -> None:
        self.named[hold.id] = hold

    def charge(self, hold: HoldRow, entry: NewEntry) -> None:
        """Count a newly recorded entry of an event that named `hold`."""
        self.charged[(hold.id, LIMIT_CLASS[entry.currency])] -= entry.amount

    def _overspend(self) -> dict[tuple[str, str], Decimal]:
        """(account, limit class) -> recorded cost no live hold reserved."""
        found: defaultdict[tuple[str, str], Decimal] = defaultdict(Decimal)
        for (hold_id, limit_class), cost in self.charged.items():
            hold = self.named[hold_id]
            live = hold.is_live(self.received_ms) and LIMIT_CLASS[hold.currency] == limit_class
            beyond = cost - hold.amount if live else cost
            if beyond > 0:
                found[(hold.account_id, limit_class)] += beyond
        return dict(found)

    async def write(self, conn: AsyncConnection) -> None:
        """Release the live holds named and add the overspend, in the caller's transaction."""
        live = [h for h in self.named.values() if h.is_live(self.received_ms)]
        await hold_store.settle(conn, live, self.received_ms)
        self.overspend = self._overspend()
        month = month_span(self.received_ms)[0]
        for account_id in sorted({account for account, _ in self.overspend}):
            usd = self.overspend.get((account_id, "usd"), ZERO)
            diem = self.overspend.get((account_id, "diem"), ZERO)
            await limit_store.add_overspend(conn, account_id, month, usd, diem)

    def count(self) -> None:
        """Count the committed overspend in /metrics."""
        for (_account, limit_class), amount in self.overspend.items():
            metrics.count_overspend(limit_class, amount)


@dataclass(frozen=True)
class Release:
    hold: HoldRow  # as it was before the release
    released: bool  # False: it had already ended (settled, released or expired)


async def release_hold(db: Database, hold_id: str, *, at_ms: int | None = None) -> Release:
    """End a live hold without charging; NotFound for an unknown hold."""
    if not HOLD_ID.fullmatch(hold_id):  # nothing to look up (and nothing to echo)
        raise NotFound("No such hold")
    async with db.write() as conn:
        outcome = await hold_store.release(conn, hold_id, at_ms if at_ms is not None else now_ms())
    if outcome is None:
        raise NotFound(f"No hold {hold_id}")
    return Release(*outcome)
