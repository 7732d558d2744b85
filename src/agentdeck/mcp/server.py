"""The MCP protocol side: the SDK's low-level server, whose tools are per caller.

The tools are computed for each request from its authenticated principal (which
:mod:`agentdeck.mcp.endpoints` puts on the ASGI scope), so the SDK's static tool registry
(`MCPServer`) does not fit; the low-level `Server` takes the two handlers. The transport is
stateless streamable HTTP with JSON responses: no session lives in one process, so any API
process answers any request. Each handler is a request boundary: it commits.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import mcp_types as types
import structlog
from mcp.server import Server, ServerRequestContext
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError
from starlette.types import Receive, Scope, Send

from agentdeck import __version__
from agentdeck.auth.principal import Principal
from agentdeck.errors import AppError
from agentdeck.mcp import service
from agentdeck.mcp.schemas import ToolResult
from agentdeck.runtime import Runtime

log = structlog.get_logger(__name__)

PRINCIPAL_KEY = "agentdeck.principal"
"""The ASGI scope key under which the authenticated :class:`Principal` travels."""

_INSTRUCTIONS = (
    "agentdeck: each tool runs one of your agents (its input schema is the agent's inputs); "
    "search_knowledge searches your knowledge bases and cites its passages."
)


def _principal(ctx: ServerRequestContext[Any, Any]) -> Principal:
    request = ctx.request
    principal = getattr(request, "scope", {}).get(PRINCIPAL_KEY) if request is not None else None
    if not isinstance(principal, Principal):  # the endpoint authenticates every request
        raise MCPError(types.INVALID_REQUEST, "not authenticated")
    return principal


def _call_result(result: ToolResult) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=result.text)],
        structured_content=result.structured,
        is_error=result.is_error,
    )


def _tool_error(exc: AppError) -> types.CallToolResult:
    """A refused call goes back to the model as a tool error it can act on."""
    return _call_result(ToolResult(text=f"{exc.title}: {exc.detail}", is_error=True))


class McpServer:
    """The server, its session manager (entered in the app's lifespan) and its ASGI app."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        settings = runtime.settings.mcp
        self.server: Server[Any] = Server(
            "agentdeck",
            version=__version__,
            instructions=_INSTRUCTIONS,
            # Without it the SDK would list the caller's tools again before every call, to
            # check `Mcp-Param-*` headers; our schemas declare none.
            get_tool_input_schema=lambda _name: None,
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
        )
        self.session_manager = StreamableHTTPSessionManager(
            app=self.server,
            json_response=True,
            stateless=True,
            security_settings=TransportSecuritySettings(
                enable_dns_rebinding_protection=True,
                allowed_hosts=list(settings.allowed_hosts),
                allowed_origins=list(settings.allowed_origins),
            ),
            max_request_body_size=runtime.settings.api.max_body_bytes,
        )
        self._asgi = StreamableHTTPASGIApp(self.session_manager)
        self.running = False

    @contextlib.asynccontextmanager
    async def run(self) -> AsyncIterator[None]:
        """Run the session manager (once per app lifespan; a mounted app has none of its own)."""
        async with self.session_manager.run():
            self.running = True
            try:
                yield
            finally:
                self.running = False

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._asgi(scope, receive, send)

    async def _list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        principal = _principal(ctx)
        async with self.runtime.sessionmaker() as session:
            tools = await service.list_tools(session, principal)
            await session.commit()
        return types.ListToolsResult(
            tools=[
                types.Tool(name=t.name, description=t.description, input_schema=t.input_schema)
                for t in tools
            ]
        )

    async def _call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        principal = _principal(ctx)
        arguments = dict(params.arguments or {})
        try:
            if params.name == service.SEARCH_TOOL:
                async with self.runtime.sessionmaker() as session:
                    found = await service.search_knowledge(
                        self.runtime, session, principal, arguments
                    )
                    await session.commit()
                return _call_result(found)
            async with self.runtime.sessionmaker() as session:
                started = await service.start_agent(session, principal, params.name, arguments)
                await session.commit()
        except service.UnknownTool as exc:
            raise MCPError(types.INVALID_PARAMS, exc.detail) from exc
        except AppError as exc:
            return _tool_error(exc)
        log.info("mcp.agent_started", tool=params.name, run_id=str(started.run_id))
        timeout_s = self.runtime.settings.mcp.call_timeout_s
        return _call_result(await service.finish_agent(self.runtime, started, timeout_s=timeout_s))
