"""Outbound requests that cannot be steered into the private network (SSRF guard).

A host is allowed only if every address it resolves to is public (global, not multicast;
IPv4-mapped IPv6 is judged as IPv4). The request then connects to the checked address
itself, keeping the real host name in the ``Host`` header and as the TLS server name (SNI,
certificate check): a DNS answer that changes between the check and the connection
(rebinding) cannot reach a private address. Used by `http` nodes, URL documents and the
website crawler.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
_DEFAULT_PORTS = {"http": 80, "https": 443}


class Unresolvable(Exception):
    """The host has no address."""


class PrivateAddress(Exception):
    """The host resolves to a loopback, private, link-local or otherwise non-public address."""


_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_6TO4 = ipaddress.ip_network("2002::/16")
_6TO4_RELAY = ipaddress.ip_network("192.88.99.0/24")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, NAT64, 6to4, compatible), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if int(ip) >> 32 == 0 and int(ip) > 1:
        return ipaddress.IPv4Address(int(ip))
    return None


def is_public(address: str) -> bool:
    """True for a globally routable unicast address (``ipaddress``'s ``is_global``); an
    IPv6 address that embeds an IPv4 one must embed a public one too."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if not ip.is_global or ip.is_multicast:
        return False
    if isinstance(ip, ipaddress.IPv4Address):
        return ip not in _6TO4_RELAY
    embedded = _embedded_ipv4(ip)
    return embedded is None or is_public(str(embedded))


async def system_resolve(host: str, port: int) -> list[str]:
    """The host's addresses from the system resolver (off the loop)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def public_address(url: str, resolver: Resolver | None = None) -> str:
    """The address to connect to for ``url``'s host, checked to be public.

    Raises Unresolvable (no address, or the name does not resolve) or PrivateAddress (any
    of its addresses is not public).
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or _DEFAULT_PORTS.get(parts.scheme, 80)
    try:
        addresses = list(await (resolver or system_resolve)(host, port))
    except (OSError, UnicodeError) as exc:
        raise Unresolvable(f"the host {host!r} does not resolve") from exc
    if not addresses:
        raise Unresolvable(f"the host {host!r} does not resolve")
    if not all(is_public(a) for a in addresses):
        raise PrivateAddress(
            f"the host {host!r} has a loopback, private or otherwise non-public address"
        )
    return addresses[0].split("%", 1)[0]


@dataclass(frozen=True, slots=True)
class PinnedRequest:
    """What to send so that a request for ``url`` reaches the pinned address."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, Any] = field(default_factory=dict)


def pinned(url: str, address: str | None) -> PinnedRequest:
    """The request for ``url`` sent to ``address`` (None: unchanged, e.g. when private
    networks are allowed): the Host header and TLS server name keep the real host."""
    if address is None:
        return PinnedRequest(url)
    parts = urlsplit(url)
    host = f"[{address}]" if ":" in address else address
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    extensions: dict[str, Any] = {}
    if parts.scheme == "https":
        extensions["sni_hostname"] = parts.hostname
    name = parts.hostname or ""
    name = f"[{name}]" if ":" in name else name
    host_header = name if parts.port is None else f"{name}:{parts.port}"
    return PinnedRequest(
        urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")),
        {"Host": host_header},
        extensions,
    )
