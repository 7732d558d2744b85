"""Pure ASGI middleware: request ids, client facts, access log, body-size limits and the
refusal of NUL characters in JSON bodies and query parameters."""

from __future__ import annotations

import ipaddress
import json
import re
import time
import uuid
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import parse_qsl

import structlog
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agentdeck.kit.context import RequestMeta, request_meta
from agentdeck.kit.text import NUL, dotted, nul_path
from agentdeck.problems import PROBLEM_JSON

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


async def _send_problem(
    send: Send,
    status: int,
    title: str,
    detail: str,
    request_id: str,
    *,
    type_: str = "payload-too-large",
    field: str | None = None,
) -> None:
    problem: dict[str, Any] = {
        "type": f"https://agentdeck.dev/problems/{type_}",
        "title": title,
        "status": status,
        "detail": detail,
        "request_id": request_id,
    }
    if field is not None:
        problem["field"] = field
    body = json.dumps(problem).encode()
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


def _query_nul(scope: Scope) -> str | None:
    """The query parameter that holds a NUL, if any."""
    raw = scope.get("query_string", b"")
    if b"%00" not in raw and b"\x00" not in raw:
        return None
    for name, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
        if NUL in name or NUL in value:
            return name.replace(NUL, "\\u0000") or "query"
    return None


def _is_json(scope: Scope) -> bool:
    media = (_header(scope, b"content-type") or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _json_nul(body: bytes) -> str | None:
    """The field of a JSON body whose string (or key) holds a NUL (``\\u0000``), if any."""
    if b"\\u0000" not in body:  # JSON writes NUL only as this escape
        return None
    try:
        path = nul_path(json.loads(body))
    except (ValueError, RecursionError):
        return None  # not JSON: the endpoint's own parsing answers
    return None if path is None else dotted(path)


async def _read_body(receive: Receive) -> tuple[bytes, list[Message]]:
    """The whole request body, and any message that came after it (a disconnect)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), [message]
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), []


async def _find_nul(scope: Scope, receive: Receive) -> tuple[str | None, Receive]:
    """The query parameter or JSON field holding a NUL (None: none), and the ``receive``
    the app reads the body from (a JSON body is read here, then replayed)."""
    nul = _query_nul(scope)
    if nul is None and _is_json(scope):
        body, after = await _read_body(receive)
        return _json_nul(body), _replay(body, after, receive)
    return nul, receive


async def _send_nul_problem(send: Send, field: str, request_id: str) -> None:
    detail = f"{field}: must not contain NUL (\\u0000) characters"
    await _send_problem(
        send, 422, "Invalid input", detail, request_id, type_="invalid-input", field=field
    )


def _replay(body: bytes, after: list[Message], receive: Receive) -> Receive:
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}, *after]

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    """The peers whose ``X-Forwarded-For`` is believed: addresses or networks (CIDR)."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.networks: list[IPNetwork] = [ipaddress.ip_network(e, strict=False) for e in entries]

    def __contains__(self, host: str | None) -> bool:
        try:
            ip = ipaddress.ip_address((host or "").strip().strip("[]"))
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self.networks)

    def client_ip(self, peer: str | None, forwarded_for: str | None) -> str | None:
        """The client behind ``peer``: the peer itself unless it is a trusted proxy, else
        the nearest address of ``X-Forwarded-For`` (walked from the right, as each proxy
        appends the one it saw) that is not a trusted proxy. An entry that is no address
        is not believed: the proxy that passed it on is the client then."""
        if peer not in self or not forwarded_for:
            return peer
        client = peer
        for hop in reversed([h.strip() for h in forwarded_for.split(",")]):
            try:
                ipaddress.ip_address(hop.strip("[]"))
            except ValueError:
                return client
            client = hop.strip("[]")
            if hop not in self:
                return client
        return client


class RequestContextMiddleware:
    """Accept or mint ``X-Request-ID``, echo it, bind it to logs, and cap body size.

    ``body_limits`` raise the cap for paths that take large bodies (document uploads); the
    first pattern that matches the path wins, else ``max_body_bytes`` applies. The client IP
    (audit log, login throttling) is the peer's; ``X-Forwarded-For`` counts only with
    ``trust_forwarded_for`` and only when the peer is one of ``trusted_proxies``.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        trust_forwarded_for: bool,
        trusted_proxies: Iterable[str] = (),
        body_limits: Sequence[tuple[re.Pattern[str], int]] = (),
    ) -> None:
        self.app = app
        self.default_max_body_bytes = max_body_bytes
        self.body_limits = list(body_limits)
        self.proxies = TrustedProxies(trusted_proxies if trust_forwarded_for else ())

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
        peer = scope["client"][0] if scope.get("client") else None
        forwarded = [v.decode("latin-1") for k, v in scope["headers"] if k == b"x-forwarded-for"]
        ip = self.proxies.client_ip(peer, ",".join(forwarded))
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
            nul, app_receive = await _find_nul(scope, limited_receive)
            if nul is not None:
                status_code = 422
                await _send_nul_problem(send, nul, request_id)
                return
            await self.app(scope, app_receive, send_with_id)
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
