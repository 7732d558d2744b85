"""Pure ASGI middleware: request ids, client facts, access log and body-size limits."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Sequence
from typing import Any

import structlog
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agentdeck.errors import PROBLEM_JSON
from agentdeck.kit.context import RequestMeta, request_meta

log = structlog.get_logger("agentdeck.http")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._\-]{1,128}$")


class _BodyTooLarge(HTTPException):
    # An HTTPException, because FastAPI turns any other error raised while it reads the
    # body into "400 There was an error parsing the body"; this one it re-raises (413).
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the body exceeds {limit} bytes")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def _send_problem(send: Send, status: int, title: str, detail: str, request_id: str) -> None:
    body = json.dumps(
        {
            "type": "https://agentdeck.dev/problems/payload-too-large",
            "title": title,
            "status": status,
            "detail": detail,
            "request_id": request_id,
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"x-request-id", request_id.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestContextMiddleware:
    """Accept or mint ``X-Request-ID``, echo it, bind it to logs, and cap body size.

    ``body_limits`` raise the cap for paths that take large bodies (document uploads); the
    first pattern that matches the path wins, else ``max_body_bytes`` applies.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        trust_forwarded_for: bool,
        body_limits: Sequence[tuple[re.Pattern[str], int]] = (),
    ) -> None:
        self.app = app
        self.default_max_body_bytes = max_body_bytes
        self.body_limits = list(body_limits)
        self.trust_forwarded_for = trust_forwarded_for

    def _limit(self, path: str) -> int:
        for pattern, limit in self.body_limits:
            if pattern.match(path):
                return limit
        return self.default_max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _SAFE_ID.match(incoming) else uuid.uuid4().hex
        ip = scope["client"][0] if scope.get("client") else None
        forwarded = _header(scope, b"x-forwarded-for")
        if self.trust_forwarded_for and forwarded:
            ip = forwarded.split(",")[0].strip()
        request_meta.set(RequestMeta(request_id, ip, _header(scope, b"user-agent")))
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        scope.setdefault("state", {})["request_id"] = request_id

        max_body_bytes = self._limit(scope["path"])
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > max_body_bytes:
            await _send_problem(
                send,
                413,
                "Request body too large",
                f"the body exceeds {max_body_bytes} bytes",
                request_id,
            )
            return

        received = 0
        started = False
        status_code = 500
        begin = time.perf_counter()

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_body_bytes:
                    raise _BodyTooLarge(max_body_bytes)
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal started, status_code
            if message["type"] == "http.response.start":
                started = True
                status_code = message["status"]
                headers: list[Any] = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_id)
        except _BodyTooLarge:
            if not started:
                status_code = 413
                await _send_problem(
                    send,
                    413,
                    "Request body too large",
                    f"the body exceeds {max_body_bytes} bytes",
                    request_id,
                )
        finally:
            log.info(
                "http.request",
                method=scope["method"],
                path=scope["path"],
                status=status_code,
                ms=round((time.perf_counter() - begin) * 1000, 2),
            )
