"""Where a webhook may be sent: URL checks, and resolution to an address that may be reached.

The host is resolved at registration and again at every attempt, and the connection is made to
the address resolved (not to the name, which could resolve elsewhere a moment later). Every
address the name resolves to must be globally routable (`ipaddress` `is_global`) unless the
operator allows private ones (self-hosted receivers, tests).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2048
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeTarget(Exception):
    """A URL that may not be reached; the message says why (shown to the endpoint's owner)."""


@dataclass(frozen=True, slots=True)
class Target:
    """A request to make: `url` names the resolved address; `host` is the Host header and
    (for https) the TLS server name."""

    url: str
    host: str
    server_name: str | None


def url_problem(url: str) -> str | None:
    """What is wrong with a URL's form, or None."""
    if len(url) > MAX_URL_LENGTH:
        return f"must be at most {MAX_URL_LENGTH} characters"
    if any(c.isspace() for c in url):
        return "must not contain whitespace"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises for a bad port)
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https"):
        return "must be an http:// or https:// URL"
    if not parts.hostname:
        return "must name a host"
    return None


async def resolve(url: str, *, allow_private: bool) -> Target:
    """The request to make to `url` now. Raises UnsafeTarget when the host does not resolve
    or resolves to an address that is not globally routable (unless `allow_private`)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = await _addresses(host, port)
    if not allow_private:
        for address in addresses:
            if not address.is_global:
                raise UnsafeTarget(f"resolves to {address}, which is not a public address")
    address = addresses[0]
    literal = f"[{address}]" if address.version == 6 else str(address)
    path = parts.path or "/"
    query = f"?{parts.query}" if parts.query else ""
    default_port = port == (443 if parts.scheme == "https" else 80)
    host_header = _bracketed(host) + ("" if default_port else f":{port}")
    return Target(f"{parts.scheme}://{literal}:{port}{path}{query}", host_header,
                  host if parts.scheme == "https" else None)


async def _addresses(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise UnsafeTarget(f"host {host} does not resolve") from exc
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in found]
    if not addresses:
        raise UnsafeTarget(f"host {host} does not resolve")
    return addresses


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host
