"""Webhook endpoint secrets: `whsec_` and the base64 of 32 random bytes (the Standard Webhooks
form), made here and kept with the endpoint. How a request is signed with them is the edge's
(`api.webhook_signing`)."""

from __future__ import annotations

import base64
import secrets

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The key a secret stands for (its base64 part, decoded)."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))
