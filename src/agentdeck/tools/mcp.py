"""``mcp`` toolsets: a remote MCP server over streamable HTTP, through the official ``mcp``
SDK (v2) client.

The connection is opened on first use and kept (one task owns it, as the SDK's task
groups require) until :meth:`McpToolset.aclose`; a broken one is reopened by the next
call. Every HTTP request of the SDK goes through ``kit.netguard`` (the httpx2 client we
hand it), with the credential's headers fetched per request. The tool list is kept as a
:class:`ToolSnapshot` with a stable hash, refreshed on ``tools/list_changed`` (a
``subscriptions/listen`` stream on 2026-07-28 servers, the notification on older ones) and
on demand. The idempotency key travels in the call's ``_meta`` as ``idempotency_key``.

Config: ``url`` (streamable HTTP endpoint), ``headers`` (static, non-secret),
``connect_timeout`` (default 10 s), ``timeout`` (each call, default 30 s),
``max_result_bytes``, ``snapshot`` (a stored tool list, so listing needs no connection).
``transport: stdio`` (``command``, ``args``, ``env``) runs a local process and is refused
unless the operator allows it (``allow_stdio``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import httpx2
import mcp_types
import structlog
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from agentdeck.kit import netguard
from agentdeck.tools.base import (
    AuthHeaders,
    ToolDefinition,
    ToolError,
    ToolsetConfig,
    ToolsetConfigError,
    cap_result,
    no_auth,
)
from agentdeck.tools.toolset_config import http_url, limits, static_headers

log = structlog.get_logger(__name__)

DEFAULT_CONNECT_TIMEOUT = 10.0
_MAX_PAGES = 100


@dataclass(frozen=True, slots=True)
class ToolSnapshot:
    """The server's tool list at one moment and its hash (SHA-256 of the canonical JSON of
    the tools sorted by name: equal lists give equal hashes, whatever the order)."""

    tools: tuple[ToolDefinition, ...]
    hash: str

    @classmethod
    def of(cls, tools: Sequence[ToolDefinition]) -> ToolSnapshot:
        ordered = tuple(sorted(tools, key=lambda t: t.name))
        return cls(ordered, snapshot_hash(ordered))

    @classmethod
    def from_dicts(cls, tools: Sequence[Mapping[str, Any]]) -> ToolSnapshot:
        """A stored snapshot (``[{name, description, input_schema}, ...]``)."""
        return cls.of(
            [
                ToolDefinition(
                    str(t["name"]), str(t.get("description") or ""), dict(t["input_schema"])
                )
                for t in tools
            ]
        )

    def as_dicts(self) -> list[dict[str, Any]]:
        return [tool.as_dict() for tool in self.tools]


def snapshot_hash(tools: Sequence[ToolDefinition]) -> str:
    """SHA-256 (hex) of the canonical JSON (sorted keys, no spaces) of the tools by name."""
    items = sorted((tool.as_dict() for tool in tools), key=lambda t: str(t["name"]))
    text = json.dumps(items, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


class _HeaderAuth(httpx2.Auth):
    """The credential's headers on every request of the SDK (a refreshed token is used)."""

    def __init__(self, auth: AuthHeaders) -> None:
        self._auth = auth

    async def async_auth_flow(
        self, request: httpx2.Request
    ) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        request.headers.update(await self._auth())
        yield request

    def sync_auth_flow(
        self, request: httpx2.Request
    ) -> Generator[httpx2.Request, httpx2.Response, None]:
        raise RuntimeError("the MCP client is async only")
        yield request  # pragma: no cover


def _leaf(exc: BaseException) -> BaseException:
    """The first non-group exception inside (anyio task groups wrap failures)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _failure(exc: BaseException, tool: str, doing: str) -> ToolError:
    """The ToolError of a failed connect or call."""
    exc = _leaf(exc)
    if isinstance(exc, ToolError):
        return exc
    if isinstance(exc, netguard.BlockedAddress):
        return ToolError("forbidden", str(exc), tool=tool)
    if isinstance(exc, TimeoutError | httpx2.TimeoutException):
        return ToolError("timeout", f"the MCP server did not answer in time ({doing})", tool=tool)
    if isinstance(exc, MCPError):
        if exc.code == mcp_types.REQUEST_TIMEOUT:
            return ToolError(
                "timeout", f"the MCP server did not answer in time ({doing})", tool=tool
            )
        return ToolError("tool", f"the MCP server refused ({doing}): {exc.message}", tool=tool)
    if isinstance(exc, httpx2.HTTPStatusError):
        status = exc.response.status_code
        kind: Any = "http_5xx" if status >= 500 else "http_4xx"
        return ToolError(kind, f"the MCP server answered HTTP {status} ({doing})", tool=tool)
    if isinstance(exc, httpx2.TransportError | OSError | EOFError):
        return ToolError("network", f"cannot reach the MCP server ({doing}): {exc}", tool=tool)
    return ToolError(
        "network", f"the MCP connection failed ({doing}): {type(exc).__name__}: {exc}", tool=tool
    )


def _content(result: mcp_types.CallToolResult, tool: str) -> Any:
    """The JSON result of a tool call: its structured content, else its text, else its
    content blocks. A result flagged ``is_error`` is a ToolError quoting its text."""
    texts = [c.text for c in result.content if isinstance(c, mcp_types.TextContent)]
    if result.is_error:
        said = " ".join(texts)[:2000] or "no message"
        raise ToolError("tool", f"the MCP tool reported an error: {said}", tool=tool)
    if result.structured_content is not None:
        return result.structured_content
    if len(texts) == len(result.content):
        return texts[0] if len(texts) == 1 else "\n".join(texts)
    return {"content": [c.model_dump(mode="json", exclude_none=True) for c in result.content]}


OnChange = Callable[[ToolSnapshot], Awaitable[None]]


class McpToolset:
    """The tools of one MCP server."""

    kind = "mcp"

    def __init__(
        self,
        name: str,
        server: str | StdioServerParameters,
        *,
        auth: AuthHeaders = no_auth,
        headers: Mapping[str, str] | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        call_timeout: float = 30.0,
        max_result_bytes: int = 256_000,
        snapshot: ToolSnapshot | None = None,
        on_change: OnChange | None = None,
    ) -> None:
        self._name, self._server = name, server
        self._auth, self._headers = auth, dict(headers or {})
        self.connect_timeout, self.call_timeout = connect_timeout, call_timeout
        self.max_result_bytes = max_result_bytes
        self.snapshot = snapshot
        self.on_change = on_change
        self._client: Client | None = None
        self._owner: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._lock = asyncio.Lock()
        self.subscribed = asyncio.Event()
        """Set while the server's ``tools/list_changed`` events are being received."""

    @property
    def name(self) -> str:
        return self._name

    # -- the connection --------------------------------------------------------------

    def _open(self) -> tuple[Client, httpx2.AsyncClient | None]:
        """A new SDK client (not entered yet) and the guarded HTTP client it sends with."""
        if isinstance(self._server, StdioServerParameters):
            client = Client(
                self._server,
                read_timeout_seconds=self.call_timeout,
                message_handler=self._on_message,
                cache=None,
            )
            return client, None
        http = netguard.guarded_client(
            headers=self._headers,
            auth=_HeaderAuth(self._auth),
            timeout=httpx2.Timeout(self.call_timeout, connect=self.connect_timeout),
        )
        client = Client(
            streamable_http_client(self._server, http_client=http),
            read_timeout_seconds=self.call_timeout,
            message_handler=self._on_message,
            cache=None,
        )
        return client, http

    async def _own(self, ready: asyncio.Future[Client]) -> None:
        """Open the connection, publish it, keep it until asked to stop (or it breaks)."""
        http: httpx2.AsyncClient | None = None
        try:
            client, http = self._open()
            async with client:
                ready.set_result(client)
                listening = None
                if client.protocol_version in MODERN_PROTOCOL_VERSIONS and getattr(
                    client.server_capabilities.tools, "list_changed", False
                ):
                    listening = asyncio.create_task(self._listen(client))
                try:
                    await self._stop.wait()
                finally:
                    if listening is not None:
                        listening.cancel()
                        with contextlib.suppress(BaseException):
                            await listening
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(_leaf(exc) if isinstance(exc, Exception) else exc)
            elif not isinstance(exc, asyncio.CancelledError):
                log.warning(
                    "tools.mcp_connection_lost", toolset=self._name, error=type(exc).__name__
                )
        finally:
            self._client = None
            if http is not None:
                await http.aclose()

    async def _connected(self, doing: str) -> Client:
        """The open connection, opened within the connect timeout; ToolError otherwise."""
        if self._client is not None and self._owner is not None and not self._owner.done():
            return self._client
        async with self._lock:
            if self._client is not None and self._owner is not None and not self._owner.done():
                return self._client
            self._stop = asyncio.Event()
            ready: asyncio.Future[Client] = asyncio.get_running_loop().create_future()
            self._owner = asyncio.create_task(self._own(ready), name=f"mcp:{self._name}")
            try:
                async with asyncio.timeout(self.connect_timeout):
                    self._client = await asyncio.shield(ready)
            except BaseException as exc:
                await self._drop()
                if isinstance(exc, asyncio.CancelledError):
                    raise
                raise _failure(exc, self._name, f"connecting, {doing}") from None
            return self._client

    async def _drop(self) -> None:
        """Close the connection (the next call opens a new one)."""
        owner, self._owner, self._client = self._owner, None, None
        if owner is None:
            return
        self._stop.set()
        if not owner.done():
            try:
                async with asyncio.timeout(self.connect_timeout):
                    await owner
            except TimeoutError:
                owner.cancel()
                with contextlib.suppress(BaseException):
                    await owner
        with contextlib.suppress(BaseException):
            owner.result()

    # -- list_changed ----------------------------------------------------------------

    async def _listen(self, client: Client) -> None:
        try:
            async with client.listen(tools_list_changed=True) as subscription:
                self.subscribed.set()
                async for _event in subscription:
                    await self._changed(client)
        except Exception as exc:  # the stream ended; calls still work, refresh on demand
            log.info("tools.mcp_listen_ended", toolset=self._name, error=type(exc).__name__)
        finally:
            self.subscribed.clear()

    async def _on_message(self, message: Any) -> None:
        """Older servers send ``notifications/tools/list_changed`` on the session."""
        if isinstance(message, mcp_types.ToolListChangedNotification):
            client = self._client
            if client is not None:
                asyncio.get_running_loop().create_task(self._changed(client))

    async def _changed(self, client: Client) -> None:
        try:
            await self._fetch(client)
        except Exception as exc:
            log.warning("tools.mcp_refresh_failed", toolset=self._name, error=type(exc).__name__)

    # -- the tool list ----------------------------------------------------------------

    async def _fetch(self, client: Client) -> ToolSnapshot:
        tools: list[ToolDefinition] = []
        cursor: str | None = None
        for _ in range(_MAX_PAGES):
            page = await client.list_tools(cursor=cursor, cache_mode="refresh")
            tools += [
                ToolDefinition(t.name, t.description or t.title or "", dict(t.input_schema))
                for t in page.tools
            ]
            cursor = page.next_cursor
            if cursor is None:
                break
        snapshot = ToolSnapshot.of(tools)
        changed = self.snapshot is None or snapshot.hash != self.snapshot.hash
        self.snapshot = snapshot
        if changed and self.on_change is not None:
            await self.on_change(snapshot)
        return snapshot

    async def refresh(self) -> list[ToolDefinition]:
        """Fetch the tool list from the server now; the new list (ToolError on failure)."""
        client = await self._connected("listing tools")
        try:
            async with asyncio.timeout(self.call_timeout):
                return list((await self._fetch(client)).tools)
        except Exception as exc:
            await self._drop()
            raise _failure(exc, self._name, "listing tools") from None

    async def list_tools(self) -> list[ToolDefinition]:
        """The snapshot's tools (fetched first when there is none)."""
        if self.snapshot is None:
            return await self.refresh()
        return list(self.snapshot.tools)

    # -- calls -----------------------------------------------------------------------

    async def call(
        self, tool: str, arguments: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> Any:
        """Call ``tool`` with the idempotency key in ``_meta``; its JSON result, capped.
        Raises ToolError for an unknown tool, a refused or failed connection, a timeout,
        an MCP error or a result flagged ``is_error``."""
        qualified = f"{self._name}.{tool}"
        known = await self.list_tools()
        if not any(t.name == tool for t in known):
            raise ToolError("tool", f"the toolset {self._name!r} has no tool {tool!r}")
        client = await self._connected(f"calling {tool}")
        # RequestParamsMeta allows extra items (PEP 728), which mypy does not read yet.
        extra: dict[str, Any] = {"idempotency_key": idempotency_key}
        meta = cast(mcp_types.RequestParamsMeta, extra)
        try:
            async with asyncio.timeout(self.call_timeout):
                result = await client.call_tool(
                    tool,
                    dict(arguments),
                    read_timeout_seconds=self.call_timeout,
                    meta=meta if idempotency_key else None,
                )
        except MCPError as exc:
            if exc.code == mcp_types.REQUEST_TIMEOUT:
                await self._drop()
            raise _failure(exc, qualified, f"calling {tool}") from None
        except Exception as exc:
            await self._drop()
            raise _failure(exc, qualified, f"calling {tool}") from None
        return cap_result(_content(result, qualified), self.max_result_bytes)

    async def aclose(self) -> None:
        """Close the connection."""
        await self._drop()


def _positive(config: Mapping[str, Any], key: str, default: float) -> float:
    value = config.get(key, default)
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        raise ToolsetConfigError(key, "must be a positive number of seconds")
    return float(value)


def _stdio(config: Mapping[str, Any]) -> StdioServerParameters:
    command = config.get("command")
    args = config.get("args") or []
    env = config.get("env")
    if not isinstance(command, str) or not command:
        raise ToolsetConfigError("command", "is required for a stdio MCP server")
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise ToolsetConfigError("args", "must be a list of strings")
    if env is not None and not isinstance(env, Mapping):
        raise ToolsetConfigError("env", "must be a mapping of names to values")
    return StdioServerParameters(
        command=command,
        args=args,
        env=None if env is None else {str(k): str(v) for k, v in env.items()},
    )


def build_mcp(
    stored: ToolsetConfig, *, allow_stdio: bool = False, on_change: OnChange | None = None
) -> McpToolset:
    """The ``mcp`` toolset of the stored config; nothing is contacted yet.

    Raises ToolsetConfigError naming ``transport`` (stdio without the operator's
    permission, or an unknown one), ``url``, a timeout, ``snapshot`` or ``headers``.
    """
    config = stored.config
    transport = config.get("transport", "streamable_http")
    server: str | StdioServerParameters
    if transport == "stdio":
        if not allow_stdio:
            raise ToolsetConfigError(
                "transport",
                "stdio MCP servers run local processes and are disabled on this installation "
                "(an operator can enable them)",
            )
        server = _stdio(config)
    elif transport == "streamable_http":
        server = http_url(config, "url")
    else:
        raise ToolsetConfigError("transport", "must be streamable_http or stdio")
    snapshot = None
    if config.get("snapshot") is not None:
        try:
            snapshot = ToolSnapshot.from_dicts(config["snapshot"])
        except (KeyError, TypeError, ValueError):
            raise ToolsetConfigError(
                "snapshot", "must be a list of {name, description, input_schema}"
            ) from None
    call_limits = limits(config)
    return McpToolset(
        stored.name,
        server,
        auth=stored.auth,
        headers=static_headers(config),
        connect_timeout=_positive(config, "connect_timeout", DEFAULT_CONNECT_TIMEOUT),
        call_timeout=call_limits.timeout,
        max_result_bytes=call_limits.max_result_bytes,
        snapshot=snapshot,
        on_change=on_change,
    )
