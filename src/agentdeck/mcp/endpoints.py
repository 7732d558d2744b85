"""/mcp on the app: authentication in front of the SDK's transport, and RFC 9728 metadata.

`/mcp` is one exact route (a `Mount` would answer `POST /mcp` with a redirect to `/mcp/`,
which strict clients do not follow). Every request is authenticated as on every other route
(a Bearer API key or access token, or `X-Api-Key`); without valid credentials it is a 401
whose `WWW-Authenticate` names the protected-resource metadata (RFC 9728). The metadata is
served where RFC 9728 puts it for `/mcp` (`/.well-known/oauth-protected-resource/mcp`), at
the root, and under `/mcp/` where a mounted SDK app would serve it.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.security import HTTPAuthorizationCredentials
from starlette.requests import HTTPConnection
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from agentdeck.auth.principal import get_principal
from agentdeck.errors import AppError
from agentdeck.mcp.schemas import ProtectedResourceMetadata
from agentdeck.mcp.server import PRINCIPAL_KEY, McpServer
from agentdeck.problems import problem_response
from agentdeck.runtime import Runtime

MCP_PATH = "/mcp"
METADATA_PATH = "/.well-known/oauth-protected-resource"

router = APIRouter(tags=["mcp"])


def _base_url(request: HTTPConnection) -> str:
    return str(request.base_url).rstrip("/")


def resource_url(runtime: Runtime, request: HTTPConnection) -> str:
    """The RFC 9728 `resource`: the configured public /mcp URL, else this request's."""
    return runtime.settings.mcp.public_url or _base_url(request) + MCP_PATH


def metadata_url(runtime: Runtime, request: HTTPConnection) -> str:
    """Where the metadata of the resource lives (RFC 9728 section 3.1)."""
    public = runtime.settings.mcp.public_url
    if public:
        scheme, _, rest = public.partition("://")
        host, slash, path = rest.partition("/")
        return f"{scheme}://{host}{METADATA_PATH}{slash}{path}".rstrip("/")
    return _base_url(request) + METADATA_PATH + MCP_PATH


def _metadata(request: Request) -> ProtectedResourceMetadata:
    runtime: Runtime = request.app.state.runtime
    return ProtectedResourceMetadata(
        resource=resource_url(runtime, request),
        resource_documentation=_base_url(request) + "/docs",
    )


@router.get(METADATA_PATH + MCP_PATH, response_model=ProtectedResourceMetadata)
async def resource_metadata(request: Request) -> ProtectedResourceMetadata:
    """RFC 9728 metadata of /mcp: send an API key or access token as a Bearer token."""
    return _metadata(request)


@router.get(METADATA_PATH, response_model=ProtectedResourceMetadata)
async def root_resource_metadata(request: Request) -> ProtectedResourceMetadata:
    """The same metadata at the root, for clients that look only there."""
    return _metadata(request)


@router.get(MCP_PATH + METADATA_PATH, response_model=ProtectedResourceMetadata)
async def mcp_resource_metadata(request: Request) -> ProtectedResourceMetadata:
    """The same metadata under /mcp/, where an SDK app mounted at /mcp serves it."""
    return _metadata(request)


class McpEndpoint:
    """The ASGI app of `/mcp`: authenticate, then hand the request to the MCP transport."""

    def __init__(self, runtime: Runtime, server: McpServer) -> None:
        self.runtime = runtime
        self.server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        connection = HTTPConnection(scope)
        try:
            await self._authenticate(connection, scope)
        except AppError as exc:
            where = metadata_url(self.runtime, connection)
            header = f'Bearer realm="agentdeck", resource_metadata="{where}"'
            if _credentials(connection) is not None:
                header += ', error="invalid_token"'
            response = problem_response(
                None,
                exc.status,
                exc.type,
                exc.title,
                exc.detail,
                headers={"WWW-Authenticate": header},
            )
            await response(scope, receive, send)
            return
        if not self.server.running:  # no lifespan ran (an app driven without one)
            response = problem_response(
                None, 503, "mcp-unavailable", "MCP unavailable", "the MCP server is not running"
            )
            await response(scope, receive, send)
            return
        await self.server.handle(scope, receive, send)

    async def _authenticate(self, connection: HTTPConnection, scope: Scope) -> None:
        token = _credentials(connection)
        bearer = (
            None
            if token is None
            else HTTPAuthorizationCredentials(scheme="Bearer", credentials=token)
        )
        async with self.runtime.sessionmaker() as session:
            principal = await get_principal(connection, self.runtime, session, bearer, None)
            await session.commit()  # the API key's last use
        scope[PRINCIPAL_KEY] = principal


def _credentials(connection: HTTPConnection) -> str | None:
    key = connection.headers.get("x-api-key")
    if key:
        return key
    scheme, _, token = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def mount(app: FastAPI, runtime: Runtime) -> McpServer:
    """Serve /mcp and its metadata on ``app``. The app's lifespan must enter ``.run()``."""
    server = McpServer(runtime)
    app.include_router(router)
    app.router.routes.append(Route(MCP_PATH, endpoint=McpEndpoint(runtime, server)))
    return server
