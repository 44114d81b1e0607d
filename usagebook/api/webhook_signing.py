"""Webhook requests signed by the Standard Webhooks convention: their headers.

`webhook-signature` is `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed with the
secret's key (`ledger.signing.secret_key`); during a rotation's overlap one signature per
secret, space-separated, so a receiver holding either secret verifies the request unchanged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

from usagebook.ledger.signing import secret_key


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def webhook_headers(
    secrets_: Sequence[str], message_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt, signed with every secret given."""
    signatures = " ".join(signature(s, message_id, timestamp, body) for s in secrets_)
    return {"webhook-id": message_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": signatures, "content-type": "application/json"}
