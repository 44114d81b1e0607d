"""What the ledger hands up to the API as stored: entries, keys, account limits, webhook
endpoints, deliveries and alert events, and the database handle every ledger operation takes.

They are the store's own frozen rows, handed through as they are (a page of entries copied into
other objects would cost a copy per entry on every read) under these ledger names, so nothing
above the ledger imports `usagebook.store`.
"""

from usagebook.store.engine import Database
from usagebook.store.entry_text import EntryText
from usagebook.store.limits import AccountLimits
from usagebook.store.outbox import DeliveryRow, EventRow
from usagebook.store.rows import EntryFields, EntryRow, KeyRow
from usagebook.store.webhooks import EndpointRow

__all__ = ["AccountLimits", "Database", "DeliveryRow", "EndpointRow", "EntryFields", "EntryRow",
           "EntryText", "EventRow", "KeyRow"]
