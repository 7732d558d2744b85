"""Outbound requests that cannot be steered into the private network (SSRF guard).

A host is allowed only if every address it resolves to is public (global, not multicast;
an IPv6 address embedding IPv4 is judged by the IPv4 one), or is allowed by the process's
:class:`NetworkPolicy`: the operator's allow-list of private hosts
(``AGENTDECK_NETWORK__ALLOWED_PRIVATE_HOSTS``, ``host`` or ``host:port``), or "allow all".
The request then connects to the checked address itself, keeping the real host name in the
``Host`` header and as the TLS server name (SNI, certificate check): a DNS answer that
changes between the check and the connection (rebinding) cannot reach a private address.

Used by `http` nodes, URL documents, the website crawler and LLM providers (whose HTTP
client sends through :class:`GuardedTransport`). The policy is built once per process from
the settings (`agentdeck.app.build_runtime` calls :func:`configure`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx2

Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
_DEFAULT_PORTS = {"http": 80, "https": 443}
VETTED = "agentdeck.netguard.vetted"
"""Request extension set by :func:`pinned`: the caller already checked (and pinned) the
request, so :class:`GuardedTransport` sends it as it is."""
SETTING = "AGENTDECK_NETWORK__ALLOWED_PRIVATE_HOSTS"


class Unresolvable(Exception):
    """The host has no address."""


class PrivateAddress(Exception):
    """The host resolves to a loopback, private, link-local or otherwise non-public address
    that the network policy does not allow."""


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


def _host_key(host: str) -> str:
    """A host as the policy compares it: lower case, no trailing dot, IPs normalised."""
    host = host.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return str(ipaddress.ip_address(host.split("%", 1)[0]))
    except ValueError:
        return host


@dataclass(frozen=True, slots=True)
class NetworkPolicy:
    """Which non-public destinations outbound calls may reach.

    ``allow_all``: any (``AGENTDECK_RUNS__ALLOW_PRIVATE_NETWORK``, tests, on-prem).
    ``hosts``: host names or addresses allowed on every port; ``host_ports``: on one port.
    A host matches by the name in the URL or by the address it resolves to.
    """

    allow_all: bool = False
    hosts: frozenset[str] = frozenset()
    host_ports: frozenset[tuple[str, int]] = frozenset()

    @classmethod
    def parse(cls, entries: Iterable[str], *, allow_all: bool = False) -> NetworkPolicy:
        """The policy of allow-list entries ``host``, ``host:port``, ``[v6]`` or
        ``[v6]:port``. Raises ValueError naming a malformed entry."""
        hosts: set[str] = set()
        host_ports: set[tuple[str, int]] = set()
        for entry in entries:
            try:
                parts = urlsplit("//" + entry.strip())
                host, port = parts.hostname, parts.port
            except ValueError as exc:
                raise ValueError(f"{SETTING}: malformed entry {entry!r}") from exc
            if not host or parts.path or parts.query or parts.username is not None:
                raise ValueError(f"{SETTING}: malformed entry {entry!r} (host or host:port)")
            if port is None:
                hosts.add(_host_key(host))
            else:
                host_ports.add((_host_key(host), port))
        return cls(allow_all, frozenset(hosts), frozenset(host_ports))

    def allows(self, host: str, port: int) -> bool:
        """True when ``host`` (a name or an address) on ``port`` is on the allow-list."""
        if self.allow_all:
            return True
        key = _host_key(host)
        return key in self.hosts or (key, port) in self.host_ports

    def widened(self, allow_all: bool) -> NetworkPolicy:
        """This policy, allowing everything too when ``allow_all`` (a feature's own flag)."""
        if not allow_all or self.allow_all:
            return self
        return NetworkPolicy(True, self.hosts, self.host_ports)


_policy = NetworkPolicy()


def configure(policy: NetworkPolicy) -> NetworkPolicy:
    """Make ``policy`` the process's network policy; the previous one."""
    global _policy  # one policy per process, set at start-up
    previous, _policy = _policy, policy
    return previous


def current_policy() -> NetworkPolicy:
    """The process's network policy (public addresses only until :func:`configure`)."""
    return _policy


@contextlib.contextmanager
def using(policy: NetworkPolicy) -> Iterator[NetworkPolicy]:
    """Use ``policy`` inside the block, then restore the previous one (tests, tools)."""
    previous = configure(policy)
    try:
        yield policy
    finally:
        configure(previous)


async def system_resolve(host: str, port: int) -> list[str]:
    """The host's addresses from the system resolver (off the loop)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def public_address(
    url: str, resolver: Resolver | None = None, *, policy: NetworkPolicy | None = None
) -> str:
    """The address to connect to for ``url``'s host, checked against the network policy
    (``policy``, else the process's): every address must be public, or the host (by name
    or by address, with the URL's port) allowed.

    Raises Unresolvable (no address, or the name does not resolve) or PrivateAddress (an
    address is neither public nor allowed).
    """
    policy = policy or _policy
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or _DEFAULT_PORTS.get(parts.scheme, 80)
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        try:
            addresses = list(await (resolver or system_resolve)(host, port))
        except (OSError, UnicodeError) as exc:
            raise Unresolvable(f"the host {host!r} does not resolve") from exc
    if not addresses:
        raise Unresolvable(f"the host {host!r} does not resolve")
    if not policy.allows(host, port):
        blocked = [a for a in addresses if not is_public(a) and not policy.allows(a, port)]
        if blocked:
            raise PrivateAddress(
                f"the host {host!r} has a loopback, private or otherwise non-public address "
                f"({blocked[0]}); an operator can allow it with {SETTING}"
            )
    return addresses[0].split("%", 1)[0]


@dataclass(frozen=True, slots=True)
class PinnedRequest:
    """What to send so that a request for ``url`` reaches the pinned address."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, Any] = field(default_factory=lambda: {VETTED: True})


def pinned(url: str, address: str | None) -> PinnedRequest:
    """The request for ``url`` sent to ``address`` (None: unchanged, e.g. when private
    networks are allowed): the Host header and TLS server name keep the real host. Marked
    as vetted (:data:`VETTED`), so :class:`GuardedTransport` does not check it again."""
    if address is None:
        return PinnedRequest(url)
    parts = urlsplit(url)
    host = f"[{address}]" if ":" in address else address
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    extensions: dict[str, Any] = {VETTED: True}
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


class BlockedAddress(httpx2.ConnectError):
    """The request's host is not allowed by the network policy; nothing was sent."""


class GuardedTransport(httpx2.AsyncBaseTransport):
    """An httpx2 transport that checks every request with :func:`public_address` and
    connects to the checked address (Host header and SNI keep the name).

    ``policy`` None: the process's policy at the time of each request. Requests already
    pinned by the caller (:data:`VETTED`) go through unchanged. Raises
    :class:`BlockedAddress` for a refused host and ``httpx2.ConnectError`` for one that
    does not resolve, before anything is sent.
    """

    def __init__(
        self,
        inner: httpx2.AsyncBaseTransport | None = None,
        *,
        resolver: Resolver | None = None,
        policy: NetworkPolicy | None = None,
    ) -> None:
        self._inner = inner or httpx2.AsyncHTTPTransport()
        self._resolver, self._policy = resolver, policy

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.extensions.get(VETTED):
            return await self._inner.handle_async_request(request)
        url = request.url
        if url.scheme not in _DEFAULT_PORTS:
            raise BlockedAddress(f"scheme {url.scheme!r} is not allowed", request=request)
        try:
            address = await public_address(str(url), self._resolver, policy=self._policy)
        except Unresolvable as exc:
            raise httpx2.ConnectError(str(exc), request=request) from None
        except PrivateAddress as exc:
            raise BlockedAddress(str(exc), request=request) from None
        if address != url.host:
            if url.scheme == "https":
                request.extensions = {**request.extensions, "sni_hostname": url.host}
            request.url = url.copy_with(host=address)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def guarded_client(**kwargs: Any) -> httpx2.AsyncClient:
    """An ``httpx2.AsyncClient`` whose every request goes through :class:`GuardedTransport`
    (an explicit transport also means no proxy from the environment can bypass it)."""
    return httpx2.AsyncClient(transport=GuardedTransport(), **kwargs)
