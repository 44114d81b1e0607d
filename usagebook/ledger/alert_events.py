"""Alert event types (their webhook bodies are written by `usagebook.api.webhook_events`)."""

from __future__ import annotations

KEY_THRESHOLD = "key.limit.threshold_crossed"
KEY_REACHED = "key.limit.reached"
ACCOUNT_THRESHOLD = "account.limit.threshold_crossed"
ACCOUNT_REACHED = "account.limit.reached"
KEY_RESET = "key.limit.reset"
BALANCE_LOW = "account.balance.low"
KEY_EXPIRING = "key.expiring"
EVENT_TYPES = (KEY_THRESHOLD, KEY_REACHED, ACCOUNT_THRESHOLD, ACCOUNT_REACHED, KEY_RESET,
               BALANCE_LOW, KEY_EXPIRING)
