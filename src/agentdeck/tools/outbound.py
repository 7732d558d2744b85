"""The one HTTP call every HTTP-based tool makes (builtins, OpenAPI operations).

Through ``kit.netguard`` (every request, redirects included, is checked against the
network policy and sent to the checked address), with the toolset's auth headers, the
call's ``Idempotency-Key``, one deadline for the whole call, and a body read up to a cap.
Every failure becomes a :class:`ToolError`; nothing else escapes.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx2

from agentdeck.kit import netguard
from agentdeck.kit.headers import header_problem
from agentdeck.tools.base import AuthHeaders, CallLimits, ToolError, no_auth

MAX_REDIRECTS = 5
_SNIPPET = 300


@dataclass(frozen=True, slots=True)
class HttpResult:
    """A response: status, headers, the body read (at most the cap), whether it was cut."""

    status: int
    headers: dict[str, str]
    content: bytes
    truncated: bool

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")

    def body(self) -> Any:
        """The JSON body when the response says JSON and parses, else the text."""
        if "json" in self.headers.get("content-type", "") and not self.truncated:
            try:
                return json.loads(self.content)
            except ValueError:
                return self.text
        return self.text

    def json(self, tool: str) -> Any:
        """The JSON body; ToolError(invalid_output) when it was truncated or is not JSON."""
        if self.truncated:
            raise ToolError(
                "invalid_output",
                f"the response was truncated at {len(self.content)} bytes (the toolset's "
                "max_result_bytes); ask for less, e.g. a smaller page",
                tool=tool,
            )
        if not self.content:
            return None
        try:
            return json.loads(self.content)
        except ValueError:
            raise ToolError(
                "invalid_output",
                f"the server answered {self.status} with a body that is not JSON: "
                f"{self.text[:_SNIPPET]!r}",
                tool=tool,
            ) from None


def _status_kind(status: int) -> Any:
    if status == 429:
        return "rate_limit"
    return "http_5xx" if status >= 500 else "http_4xx"


def raise_for_status(result: HttpResult, tool: str, summary: str | None = None) -> None:
    """ToolError (http_4xx, http_5xx or rate_limit) for a status of 400 or more, quoting
    ``summary`` (an API's own error message) or the start of the body."""
    if result.status < 400:
        return
    said = summary if summary is not None else result.text[:_SNIPPET]
    message = f"the server answered HTTP {result.status}"
    if said:
        message += f": {said}"
    retry_after = result.headers.get("retry-after")
    if result.status == 429 and retry_after:
        message += f" (retry after {retry_after} s)"
    raise ToolError(
        _status_kind(result.status), message, tool=tool, detail={"status": result.status}
    )


def api_json(
    result: HttpResult, tool: str, error_message: Callable[[Any], str | None] | None = None
) -> Any:
    """The JSON body of a successful API answer. For a status of 400 or more, a ToolError
    quoting the API's own message (``error_message`` picks it out of the JSON error body);
    for a body that is not JSON or was truncated, ToolError(invalid_output)."""
    if result.status >= 400:
        said = None
        if error_message is not None and not result.truncated:
            try:
                said = error_message(json.loads(result.content))
            except (ValueError, AttributeError, TypeError, KeyError):
                said = None
        raise_for_status(result, tool, said)
    return result.json(tool)


class HttpCaller:
    """Sends a toolset's requests: one guarded ``httpx2`` client (connections are reused),
    the toolset's base URL, auth and limits. Create it once per toolset; ``aclose`` it."""

    def __init__(
        self,
        *,
        base_url: str = "",
        auth: AuthHeaders = no_auth,
        limits: CallLimits | None = None,
        headers: Mapping[str, str] | None = None,
        follow_redirects: bool = False,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.limits = limits or CallLimits()
        self._auth = auth
        self._headers = dict(headers or {})
        self._follow = follow_redirects
        self._client: httpx2.AsyncClient | None = None

    def _http(self) -> httpx2.AsyncClient:
        if self._client is None:
            self._client = netguard.guarded_client(
                timeout=httpx2.Timeout(self.limits.timeout),
                follow_redirects=self._follow,
                max_redirects=MAX_REDIRECTS,
            )
        return self._client

    def url(self, path: str) -> str:
        """``path`` under the base URL (an absolute URL stays as it is)."""
        if path.startswith(("http://", "https://")) or not self.base_url:
            return path
        if not path:
            return self.base_url
        return self.base_url + "/" + path.lstrip("/")

    async def _request_headers(
        self, tool: str, headers: Mapping[str, str] | None, idempotency_key: str | None
    ) -> dict[str, str]:
        out = {**self._headers, **(headers or {})}
        try:
            out.update(await self._auth())
        except ToolError:
            raise
        except Exception as exc:
            raise ToolError(
                "tool",
                f"the toolset's credential could not be used ({type(exc).__name__})",
                tool=tool,
            ) from exc
        if idempotency_key:
            out["Idempotency-Key"] = idempotency_key
        for name, value in out.items():
            problem = header_problem(name, value)
            if problem is not None:
                raise ToolError("invalid_input", problem, tool=tool, detail={"field": "headers"})
        return out

    async def request(
        self,
        tool: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> HttpResult:
        """Send one request and read its body up to the toolset's cap.

        Raises ToolError: ``timeout`` (the whole call, headers and body, is bounded),
        ``forbidden`` (an address the network policy refuses, also after a redirect),
        ``network`` (no connection, or the connection dropped mid-response),
        ``invalid_input`` (a header or URL that cannot be sent).
        """
        sent = await self._request_headers(tool, headers, idempotency_key)
        if json_body is not None:
            content = json.dumps(json_body, ensure_ascii=False, separators=(",", ":")).encode()
            sent.setdefault("Content-Type", "application/json")
        try:
            async with asyncio.timeout(self.limits.timeout):
                return await self._send(method, self.url(path), params, content, sent)
        except TimeoutError:
            raise ToolError(
                "timeout", f"no complete answer within {self.limits.timeout:g} s", tool=tool
            ) from None
        except netguard.BlockedAddress as exc:
            raise ToolError("forbidden", str(exc), tool=tool) from None
        except httpx2.TimeoutException:
            raise ToolError(
                "timeout", f"no complete answer within {self.limits.timeout:g} s", tool=tool
            ) from None
        except httpx2.TooManyRedirects:
            raise ToolError("network", f"more than {MAX_REDIRECTS} redirects", tool=tool) from None
        except (httpx2.RemoteProtocolError, httpx2.ReadError) as exc:
            raise ToolError(
                "network", f"the connection broke during the response ({exc})", tool=tool
            ) from None
        except httpx2.TransportError as exc:
            raise ToolError("network", f"cannot reach the server ({exc})", tool=tool) from None
        except (httpx2.InvalidURL, httpx2.UnsupportedProtocol, ValueError) as exc:
            raise ToolError("invalid_input", f"cannot send the request: {exc}", tool=tool) from None

    async def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        content: bytes | None,
        headers: dict[str, str],
    ) -> HttpResult:
        cap = self.limits.max_result_bytes
        query = {k: v for k, v in (params or {}).items() if v is not None}
        async with self._http().stream(
            method, url, params=query or None, content=content, headers=headers
        ) as response:
            chunks: list[bytes] = []
            size, truncated = 0, False
            async for chunk in response.aiter_bytes():
                room = cap - size
                if len(chunk) > room:
                    chunks.append(chunk[:room])
                    truncated = True
                    break
                chunks.append(chunk)
                size += len(chunk)
            return HttpResult(
                response.status_code, dict(response.headers), b"".join(chunks), truncated
            )

    async def aclose(self) -> None:
        """Close the connections."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None
