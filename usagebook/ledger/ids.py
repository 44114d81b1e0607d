"""Public identifiers: a readable prefix and enough randomness that they cannot be guessed."""

from __future__ import annotations

import secrets


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"
