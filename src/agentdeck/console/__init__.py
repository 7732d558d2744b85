"""The built web console, served at `/` (its sources live in `console/` at the repository root;
`make console` rebuilds these files, which are committed so `agentdeck serve` needs no Node).

The console is the router's fallback, so every API route wins whatever order routes and
mounts are added in: a GET that no route answers gets a file of the build by its path, or
`index.html` for the console's client-side routes (`/agents/...`, `/runs/...`).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.responses import FileResponse, Response
from starlette.types import Receive, Scope, Send

STATIC = Path(__file__).parent / "static"
_INDEX = STATIC / "index.html"
# Paths of the API surfaces: an unknown one is the API's 404, never the console's page.
_NOT_CONSOLE = ("/api", "/v1", "/mcp", "/docs", "/redoc", "/healthz", "/readyz", "/.well-known")
_IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable"}
_REVALIDATE = {"Cache-Control": "no-cache"}


def _is_api(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in _NOT_CONSOLE)


def console_response(path: str) -> Response | None:
    """The console's answer to GET `path`: a built file (assets are content-hashed, so
    cached for good), `index.html` for client-side routes, or None (not the console's)."""
    if _is_api(path) or not _INDEX.is_file():
        return None
    relative = path.lstrip("/")
    if relative:
        candidate = (STATIC / relative).resolve()
        if candidate.is_relative_to(STATIC.resolve()) and candidate.is_file():
            headers = _IMMUTABLE if relative.startswith("assets/") else _REVALIDATE
            return FileResponse(candidate, headers=headers)
        if relative.startswith("assets/"):
            return None  # a missing asset is a 404, not the page
    return FileResponse(_INDEX, headers=_REVALIDATE, media_type="text/html")


def mount_console(app: FastAPI) -> None:
    """Serve the console for GET and HEAD requests that no route of ``app`` answers."""
    fallback = app.router.default

    async def console(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            response = console_response(scope["path"])
            if response is not None:
                await response(scope, receive, send)
                return
        await fallback(scope, receive, send)

    app.router.default = console
