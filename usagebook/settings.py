"""One settings object, read from `USAGEBOOK_*` environment variables once, at start.

CLI flags override the environment. The object is passed to whatever needs it; nothing reads
the environment at import time.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace

from usagebook.secrets_file import check_strength, secret_beside

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///usagebook.db"
DEFAULT_RETRY_SCHEDULE = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 50400.0, 72000.0, 86400.0)


class SettingsError(ValueError):
    """Settings that cannot work; the message says which variable and why."""


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    operator_token: str | None = None
    secret_key: str | None = None
    redis_url: str | None = None
    rate_limit_per_minute: int = 1200
    query_timeout_seconds: float = 10.0
    # A streaming-replication standby for reads that may lag (analytics, export), used while
    # its lag is at most max_replica_lag_seconds; None: every read goes to the primary.
    read_database_url: str | None = None
    max_replica_lag_seconds: float = 5.0
    # Webhooks: seconds between delivery attempts (then `failed`), whether endpoint URLs may
    # reach private addresses, how often each server looks for due deliveries, and how long an
    # attempt may take (its lease is this plus a margin).
    webhook_retry_schedule: tuple[float, ...] = DEFAULT_RETRY_SCHEDULE
    webhook_allow_private: bool = False
    webhook_poll_seconds: float = 1.0
    webhook_timeout_seconds: float = 10.0
    webhook_delivery: bool = True  # false: this process records events but delivers none
    # Every database call is bounded: opening a connection (or waiting for one from the pool)
    # and each statement, lock waits included. Past either, requests get a 503.
    db_connect_timeout_seconds: float = 5.0
    db_statement_timeout_seconds: float = 30.0
    # Requests with a missing or invalid key, per client address (0 turns the limit off); the
    # address is read from X-Forwarded-For only when the peer is one of `trusted_proxies`.
    failed_auth_per_minute: int = 60
    trusted_proxies: tuple[str, ...] = ()
    # A request body past this is refused whole with a 413, before any route reads it (the
    # contract's limit for a recording batch; `api.middleware` holds every request to it).
    max_body_bytes: int = 2 * 1024 * 1024
    # How often each server process makes sure the ledger's coming months have their
    # partitions (PostgreSQL; `ledger.partitions.partition_upkeep`).
    partition_check_seconds: float = 3600.0

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: object) -> Settings:
        source = os.environ if env is None else env
        values: dict[str, object] = {}
        if url := source.get("USAGEBOOK_DATABASE_URL"):
            values["database_url"] = url
        for name in ("operator_token", "secret_key", "redis_url", "read_database_url"):
            if raw := source.get(f"USAGEBOOK_{name.upper()}"):
                values[name] = raw
        if (limit := source.get("USAGEBOOK_RATE_LIMIT_PER_MINUTE")) is not None:
            values["rate_limit_per_minute"] = _parse_int("USAGEBOOK_RATE_LIMIT_PER_MINUTE", limit)
        if (failed := source.get("USAGEBOOK_FAILED_AUTH_PER_MINUTE")) is not None:
            values["failed_auth_per_minute"] = _parse_int("USAGEBOOK_FAILED_AUTH_PER_MINUTE",
                                                          failed)
        if (proxies := source.get("USAGEBOOK_TRUSTED_PROXIES")) is not None:
            values["trusted_proxies"] = tuple(p.strip() for p in proxies.split(",") if p.strip())
        for name in ("query_timeout_seconds", "db_connect_timeout_seconds",
                     "db_statement_timeout_seconds", "partition_check_seconds"):
            variable = f"USAGEBOOK_{name.upper()}"
            if (seconds := source.get(variable)) is not None:
                values[name] = _parse_float(variable, seconds)
        if (lag := source.get("USAGEBOOK_MAX_REPLICA_LAG_SECONDS")) is not None:
            values["max_replica_lag_seconds"] = _parse_float(
                "USAGEBOOK_MAX_REPLICA_LAG_SECONDS", lag
            )
        values.update(_webhook_settings(source))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values).validated()  # type: ignore[arg-type]

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def readiness_timeout_seconds(self) -> float:
        """The whole of /readyz's check (connect and ping): short, so that a stalled database
        is reported within seconds to the load balancer asking."""
        return min(2.0, self.db_connect_timeout_seconds, self.db_statement_timeout_seconds)

    def validated(self) -> Settings:
        """Normalise the database URL and make sure every secret is strong.

        A secret or token that is set must be strong (`secrets_file.check_strength`): a weak one
        is refused, never quietly replaced. Without a secret key the embedded SQLite default
        keeps a generated one beside the database file; PostgreSQL (production) refuses to
        start without one.
        """
        settings = replace(self, database_url=normalise_database_url(self.database_url))
        if settings.read_database_url:
            settings = replace(settings,
                               read_database_url=normalise_database_url(settings.read_database_url))
        if self.rate_limit_per_minute < 0:
            raise SettingsError("USAGEBOOK_RATE_LIMIT_PER_MINUTE must be 0 (off) or more")
        if self.failed_auth_per_minute < 0:
            raise SettingsError("USAGEBOOK_FAILED_AUTH_PER_MINUTE must be 0 (off) or more")
        for proxy in self.trusted_proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise SettingsError("USAGEBOOK_TRUSTED_PROXIES must list addresses or networks "
                                    f"(10.0.0.0/8), not {proxy!r}") from None
        for variable, seconds in (
            ("USAGEBOOK_QUERY_TIMEOUT_SECONDS", self.query_timeout_seconds),
            ("USAGEBOOK_DB_CONNECT_TIMEOUT_SECONDS", self.db_connect_timeout_seconds),
            ("USAGEBOOK_DB_STATEMENT_TIMEOUT_SECONDS", self.db_statement_timeout_seconds),
            ("USAGEBOOK_PARTITION_CHECK_SECONDS", self.partition_check_seconds),
        ):
            if not 0 < seconds <= 86_400:  # NaN fails this too
                raise SettingsError(f"{variable} must be a number of seconds above 0")
        for name, value in (("USAGEBOOK_SECRET_KEY", settings.secret_key),
                            ("USAGEBOOK_OPERATOR_TOKEN", settings.operator_token)):
            if value is not None and (problem := check_strength(value)):
                raise SettingsError(f"{name} {problem} (`usagebook token` prints a strong one)")
        if settings.secret_key:
            return settings
        if not settings.is_sqlite:
            raise SettingsError(
                "USAGEBOOK_SECRET_KEY must be set to a real secret when the database is PostgreSQL"
            )
        try:
            return replace(settings, secret_key=secret_beside(settings.database_url))
        except (OSError, UnicodeDecodeError) as exc:  # unreadable: stop, never sign with it
            raise SettingsError(f"cannot use the generated secret file: {exc}") from None


def normalise_database_url(url: str) -> str:
    """Accept plain `sqlite:///` and `postgresql://` URLs and pick the async drivers."""
    if url.startswith("sqlite://") and not url.startswith("sqlite+"):
        return "sqlite+aiosqlite://" + url[len("sqlite://") :]
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    if url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        return url
    scheme = url.split(":")[0]
    raise SettingsError(
        f"USAGEBOOK_DATABASE_URL must be a sqlite:/// or postgresql:// URL, not {scheme!r}"
    )


def _webhook_settings(source: Mapping[str, str]) -> dict[str, object]:
    values: dict[str, object] = {}
    if (schedule := source.get("USAGEBOOK_WEBHOOK_RETRY_SCHEDULE")) is not None:
        values["webhook_retry_schedule"] = _parse_schedule(schedule)
    for name in ("webhook_allow_private", "webhook_delivery"):
        variable = f"USAGEBOOK_{name.upper()}"
        if (raw := source.get(variable)) is not None:
            values[name] = _parse_bool(variable, raw)
    for name in ("webhook_poll_seconds", "webhook_timeout_seconds"):
        variable = f"USAGEBOOK_{name.upper()}"
        if (raw := source.get(variable)) is not None:
            values[name] = _parse_float(variable, raw)
            if values[name] <= 0:  # type: ignore[operator]
                raise SettingsError(f"{variable} must be above 0")
    return values


def _parse_schedule(raw: str) -> tuple[float, ...]:
    name = "USAGEBOOK_WEBHOOK_RETRY_SCHEDULE"
    delays = tuple(_parse_float(name, part) for part in raw.split(",") if part.strip())
    if any(delay < 0 for delay in delays):
        raise SettingsError(f"{name} must list seconds (0 or more) between attempts")
    return delays


def _parse_bool(name: str, raw: str) -> bool:
    if raw.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if raw.strip().lower() in ("0", "false", "no", "off", ""):
        return False
    raise SettingsError(f"{name} must be true or false, not {raw!r}")


def _parse_int(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a whole number, not {raw!r}") from exc


def _parse_float(name: str, raw: str) -> float:
    try:
        return float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a number of seconds, not {raw!r}") from exc
