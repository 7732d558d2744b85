"""How the pass-through sends a request: one POST of JSON bytes, the answer's status,
headers and body (whole or as it arrives). Two implementations: `HttpxWire` over an
``httpx2.AsyncClient`` (the gateway's shared client, or a test's MockTransport client)
and `SocketWire` (`agentdeck.llm._socket_wire`), HTTP/1.1 on pooled asyncio connections.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

import httpx2

from agentdeck.kit import netguard

TIMEOUT_S = 60.0  # per read: a stream lasts longer
CONNECT_TIMEOUT_S = 5.0


class WireError(Exception):
    """No (complete) answer: ``kind`` is ``timeout``, ``connection`` or ``blocked`` (the
    network policy refuses the host; nothing was sent)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class WireResponse(Protocol):
    """An answer whose status line and headers arrived."""

    status: int

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (lower case), or None."""
        ...

    async def read(self) -> bytes:
        """The whole body. Raises `WireError`."""
        ...

    def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives. Raises `WireError`."""
        ...

    async def aclose(self) -> None:
        """Let the connection go (back to the pool once the body was read)."""
        ...


class Wire(Protocol):
    """Sends POST requests."""

    async def post(self, url: str, headers: list[tuple[str, str]], body: bytes) -> WireResponse:
        """Send ``body`` to ``url`` and wait for the answer's head. Raises `WireError`."""
        ...

    async def aclose(self) -> None:
        """Close what the wire holds open."""
        ...


def _error_of(exc: httpx2.HTTPError) -> WireError:
    if isinstance(exc, netguard.BlockedAddress):
        return WireError("blocked", str(exc))
    kind = "timeout" if isinstance(exc, httpx2.TimeoutException) else "connection"
    return WireError(kind, type(exc).__name__ + ": " + str(exc)[:300])


class _HttpxResponse:
    def __init__(self, response: httpx2.Response) -> None:
        self._response = response
        self.status = response.status_code

    def header(self, name: str) -> str | None:
        return self._response.headers.get(name)

    async def read(self) -> bytes:
        try:
            return await self._response.aread()
        except httpx2.HTTPError as exc:
            raise _error_of(exc) from None

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.aiter_bytes():
                yield chunk
        except httpx2.HTTPError as exc:
            raise _error_of(exc) from None

    async def aclose(self) -> None:
        await self._response.aclose()


class HttpxWire:
    """Requests through an ``httpx2.AsyncClient``, built directly: the client's merging of
    URLs, headers and cookies is not needed for a fixed endpoint (and no cookie an
    upstream set is sent on for another organisation)."""

    def __init__(self, client: httpx2.AsyncClient) -> None:
        self._client = client
        self._urls: dict[str, httpx2.URL] = {}
        self._timeout = httpx2.Timeout(TIMEOUT_S, connect=CONNECT_TIMEOUT_S).as_dict()

    async def post(self, url: str, headers: list[tuple[str, str]], body: bytes) -> _HttpxResponse:
        parsed = self._urls.get(url)
        if parsed is None:
            if len(self._urls) >= 1024:
                self._urls.clear()
            parsed = self._urls[url] = httpx2.URL(url)
        request = httpx2.Request(
            "POST", parsed, content=body, headers=headers, extensions={"timeout": self._timeout}
        )
        try:
            return _HttpxResponse(await self._client.send(request, stream=True))
        except httpx2.HTTPError as exc:
            raise _error_of(exc) from None

    async def aclose(self) -> None:
        """The client is the gateway's to close."""
        return None
