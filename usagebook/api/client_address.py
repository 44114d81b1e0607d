"""Who is asking: the client address that per-address limits count.

It is the TCP peer, unless the peer is a trusted proxy (`USAGEBOOK_TRUSTED_PROXIES`). Then
X-Forwarded-For is read from the right, the end each proxy appends to: the first address that
is not a trusted proxy is the client. Entries further left were written by the client itself
and prove nothing, so they are never taken while a nearer one exists.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.requests import HTTPConnection

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_LONGEST = 64  # an entry longer than any address is counted by its start


def trusted_networks(proxies: Iterable[str]) -> tuple[Network, ...]:
    """Addresses or networks (`10.0.0.0/8`); raises ValueError for anything else."""
    return tuple(ipaddress.ip_network(proxy.strip(), strict=False) for proxy in proxies)


def client_address(peer: str | None, forwarded_for: list[str],
                   trusted: tuple[Network, ...]) -> str:
    address = peer or "unknown"
    if not trusted:
        return address
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",") if hop.strip()]
    while hops and _is_trusted(address, trusted):
        address = hops.pop()
    return address[:_LONGEST]


def address_of(connection: HTTPConnection) -> str:
    """The client address of a request, as the app's settings say to read it."""
    trusted: tuple[Network, ...] = connection.app.state.trusted_networks
    peer = connection.client.host if connection.client else None
    return client_address(peer, connection.headers.getlist("x-forwarded-for"), trusted)


def _is_trusted(address: str, trusted: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)
