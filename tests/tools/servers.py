"""Local test servers on 127.0.0.1: a tiny recording ASGI app served by uvicorn.

Each route answers with a handler; every request is recorded (method, path, query,
headers, body), so a test asserts exactly what a tool sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

import uvicorn

from agentdeck.kit import netguard

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    raw_path: str = ""
    params: dict[str, str] = field(default_factory=dict)

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None


Handler = Callable[[Recorded], Awaitable[Reply] | Reply]
Special = Callable[[Recorded, Receive, Send], Awaitable[None]]


class FakeApi:
    """Routes like ``("POST", "/repos/{owner}/{repo}/issues")`` to handlers; records all."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._routes: list[tuple[str, re.Pattern[str], Handler | Special, bool]] = []

    def route(self, method: str, template: str, *, raw: bool = False) -> Callable[[Any], Any]:
        pattern = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "$")

        def register(handler: Any) -> Any:
            self._routes.append((method, pattern, handler, raw))
            return handler

        return register

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        request = Recorded(
            scope["method"],
            scope["path"],
            parse_qs(scope["query_string"].decode()),
            {k.decode().lower(): v.decode() for k, v in scope["headers"]},
            body,
            scope.get("raw_path", b"").decode("latin-1") or scope["path"],
        )
        self.requests.append(request)
        for method, pattern, handler, raw in self._routes:
            match = pattern.match(request.raw_path)
            if method == scope["method"] and match:
                request.params = {k: unquote(v) for k, v in match.groupdict().items()}
                if raw:
                    await handler(request, receive, send)  # type: ignore[call-arg]
                    return
                reply = handler(request)  # type: ignore[call-arg]
                if asyncio.iscoroutine(reply):
                    reply = await reply
                await _send_reply(send, reply)  # type: ignore[arg-type]
                return
        await _send_reply(send, Reply(404, {"message": "Not Found"}))


async def _send_reply(send: Send, reply: Reply) -> None:
    if reply.raw is not None:
        data = reply.raw
        headers = {"content-type": "application/octet-stream", **reply.headers}
    elif reply.body is None:
        data, headers = b"", dict(reply.headers)
    else:
        data = json.dumps(reply.body).encode()
        headers = {"content-type": "application/json; charset=utf-8", **reply.headers}
    headers["content-length"] = str(len(data))
    await send(
        {
            "type": "http.response.start",
            "status": reply.status,
            "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        }
    )
    await send({"type": "http.response.body", "body": data})


@contextlib.asynccontextmanager
async def serving(app: ASGIApp) -> AsyncIterator[str]:
    """``http://127.0.0.1:<port>`` of ``app`` under uvicorn (host and port given to uvicorn,
    so its sockets get TCP_NODELAY: a pre-bound socket costs 40 ms per request)."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    # The steps of `Server.serve`, awaited in order: started means listening, no polling.
    config.load()
    server.lifespan = config.lifespan_class(config)
    await server.startup()
    assert server.started, "uvicorn did not start"
    task = asyncio.create_task(server.main_loop())
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        await server.shutdown()


@contextlib.contextmanager
def loopback_allowed() -> Any:
    """The operator's network policy allows 127.0.0.1 (any port) inside the block."""
    with netguard.using(netguard.NetworkPolicy.parse(["127.0.0.1"])):
        yield


async def call_once(
    kind: str,
    name: str,
    config: dict[str, Any],
    tool: str,
    arguments: dict[str, Any],
    *,
    token: str = "tok-123",
    key: str = "run-1:node-1",
) -> Any:
    """Build the toolset (auth: ``Authorization: Bearer <token>``), call one tool with
    loopback allowed, close it; the result (or the ToolError raised)."""
    from agentdeck.tools.base import ToolsetConfig
    from agentdeck.tools.registry import ToolRegistry

    async def auth() -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    registry = ToolRegistry.from_configs([ToolsetConfig(name, kind, config, auth)])
    try:
        with loopback_allowed():
            return await registry.call(f"{name}.{tool}", arguments, idempotency_key=key)
    finally:
        await registry.aclose()
