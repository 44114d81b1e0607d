"""The gateway's settings: where the upstream and the ledger are, and how it meters.

Read once at start (`GatewayConfig.from_env`, CLI flags override); passed in, never a global.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from usagebook.settings import SettingsError

DEFAULT_MAX_ESTIMATE_TOKENS = 4096
DEFAULT_HOLD_SECONDS = 300


@dataclass(frozen=True)
class GatewayConfig:
    """`upstream_url` and `ledger_url` are base URLs (`http://host:port`); the gateway calls
    `<upstream>/v1/...` and `<ledger>/api/v1/usage/...`."""

    upstream_url: str
    ledger_url: str
    operator_token: str
    upstream_api_key: str | None = None
    queue_path: Path = Path("usagebook-gateway.db")
    # Caps the output part of an estimate, so that a request asking for a huge max_tokens (or
    # none) is admitted on what it will plausibly cost; the real cost is recorded whatever it is.
    max_estimate_tokens: int = DEFAULT_MAX_ESTIMATE_TOKENS
    fail_open: bool = False
    hold_seconds: int = DEFAULT_HOLD_SECONDS
    # How long the upstream may stay silent (before answering, or between a stream's chunks)
    # before the request fails with a 502 and its hold is released.
    upstream_timeout_seconds: float = 600.0
    ledger_timeout_seconds: float = 10.0

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: object) -> GatewayConfig:
        """Raises SettingsError naming the variable or option that cannot work."""
        source = os.environ if env is None else env
        values: dict[str, object] = {
            "operator_token": source.get("USAGEBOOK_OPERATOR_TOKEN", ""),
            "upstream_api_key": source.get("USAGEBOOK_UPSTREAM_API_KEY") or None,
        }
        if timeout := source.get("USAGEBOOK_UPSTREAM_TIMEOUT_SECONDS"):
            try:
                values["upstream_timeout_seconds"] = float(timeout)
            except ValueError:
                raise SettingsError("USAGEBOOK_UPSTREAM_TIMEOUT_SECONDS must be a number of "
                                    f"seconds, not {timeout!r}") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values).validated()  # type: ignore[arg-type]

    def validated(self) -> GatewayConfig:
        if not self.operator_token:
            raise SettingsError("USAGEBOOK_OPERATOR_TOKEN must be set: the gateway authorizes "
                                "and records with it")
        for name, url in (("--upstream", self.upstream_url), ("--ledger", self.ledger_url)):
            if not url.startswith(("http://", "https://")):
                raise SettingsError(f"{name} must be an http:// or https:// URL, not {url!r}")
        if self.max_estimate_tokens < 1:
            raise SettingsError("--max-estimate-tokens must be 1 or more")
        if not 1 <= self.hold_seconds <= 3600:
            raise SettingsError("the hold must last 1..3600 seconds")
        if not self.upstream_timeout_seconds > 0:
            raise SettingsError("USAGEBOOK_UPSTREAM_TIMEOUT_SECONDS must be above 0")
        return self
