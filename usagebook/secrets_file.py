"""Secrets and tokens: how strong they must be, and the files that hold secrets.

A signing secret or operator token is strong when it has at least 32 characters, is not made
of known placeholder words (however repeated or decorated) and is not a few characters over
and over. `new_token()` makes one (256 random bits).

Files that hold a secret, or the ledger itself (the SQLite database), are created owner-only
(0600) by `os.open` with that mode, so they are never readable by others, not even for the
moment between a write and a chmod. The generated `<db>.secret` is written whole to a
temporary file first and then linked into place, so no process ever reads it half-written.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
from pathlib import Path

from sqlalchemy.engine import make_url

log = logging.getLogger("usagebook.settings")

MIN_LENGTH = 32
MIN_DISTINCT_CHARACTERS = 8
PLACEHOLDERS = ("changeme", "changethis", "replaceme", "secret", "password", "dev", "test",
                "example", "token", "default", "yoursecretkey", "supersecret", "xxx")
_PLACEHOLDER = re.compile("|".join(PLACEHOLDERS))
_MIN_BEYOND_PLACEHOLDERS = 8  # letters and digits left once placeholder words are taken out
OWNER_ONLY = 0o600


def new_token() -> str:
    """A fresh strong secret: 32 random bytes as 43 URL-safe characters."""
    return secrets.token_urlsafe(32)


def check_strength(value: str) -> str | None:
    """What is wrong with `value` as a secret, or None when it is strong enough."""
    if len(value.strip()) < MIN_LENGTH:
        return f"must be at least {MIN_LENGTH} characters"
    letters = re.sub(r"[^a-z0-9]", "", value.lower())
    if len(_PLACEHOLDER.sub("", letters)) < _MIN_BEYOND_PLACEHOLDERS:
        return "is a placeholder, not a secret"
    if len(set(value)) < MIN_DISTINCT_CHARACTERS:
        return f"repeats too few characters (fewer than {MIN_DISTINCT_CHARACTERS} distinct)"
    return None


def create_private_file(path: Path) -> None:
    """Create `path` empty and owner-only unless it exists (then it is left as it is)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OWNER_ONLY))


def create_sqlite_file(database_url: str) -> None:
    """Create a SQLite database file owner-only before SQLite creates it world-readable (its
    -wal and -shm files then take the same mode). Other URLs are left alone."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        create_private_file(Path(url.database))


def secret_beside(database_url: str) -> str:
    """The signing secret kept in `<db>.secret`, created on first use. A file that holds a weak
    secret (empty, short, a placeholder) is replaced by a fresh one and the log says so.

    Raises OSError or UnicodeDecodeError when the file exists but cannot be read: a secret
    that cannot be read must stop the service, not be silently replaced."""
    database = make_url(database_url).database
    if not database or database == ":memory:":
        return new_token()
    path = Path(database + ".secret")
    try:
        kept = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return _create_secret(path)
    if (problem := check_strength(kept)) is None:
        return kept
    log.warning("%s held an unusable secret (it %s): replaced by a fresh one; usage-history "
                "cursors signed before are refused", path, problem)
    secret = new_token()
    os.replace(_written_aside(path, secret), path)
    return secret


def _create_secret(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = new_token()
    aside = _written_aside(path, secret)
    try:
        os.link(aside, path)  # never replaces: a concurrent first start keeps one secret
    except FileExistsError:
        return _read_created(path)
    finally:
        aside.unlink()
    return secret


def _read_created(path: Path) -> str:
    kept = path.read_text(encoding="utf-8").strip()
    if (problem := check_strength(kept)) is not None:
        raise OSError(f"{path} holds an unusable secret (it {problem})")
    return kept


def write_private_text(path: Path, text: str) -> None:
    """Write `text` to `path` (replacing it whole) in an owner-only file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.replace(_written_aside(path, text, end=""), path)


def _written_aside(path: Path, secret: str, end: str = "\n") -> Path:
    """A complete owner-only copy of `secret` next to `path`, flushed to disk."""
    aside = path.with_name(f"{path.name}.{secrets.token_hex(6)}.tmp")
    descriptor = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OWNER_ONLY)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(secret + end)
        file.flush()
        os.fsync(file.fileno())
    return aside
