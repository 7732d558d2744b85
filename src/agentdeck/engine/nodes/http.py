"""`http`: one outbound request, guarded against the private network.

The host is resolved once; every address must be public or allowed by the process's network
policy (`kit.netguard`: ``AGENTDECK_NETWORK__ALLOWED_PRIVATE_HOSTS``), unless the run
allows every address (`allow_private_network`).
The request then goes to the checked address (Host header and TLS SNI keep the name), so a
DNS answer that changes between check and connect cannot redirect it. Redirects are not
followed. The step's idempotency key is sent as `Idempotency-Key`.
"""

from __future__ import annotations

from typing import Any

import httpx

from agentdeck.engine.errors import ErrorKind, NodeError
from agentdeck.engine.nodes.context import NodeContext, NodeResult, Ports
from agentdeck.engine.spec import HttpNode
from agentdeck.kit import netguard
from agentdeck.kit.headers import header_problem

DEFAULT_TIMEOUT = 30.0
MAX_BODY_BYTES = 5_000_000


async def pin_public_address(url: httpx.URL, ports: Ports) -> httpx.URL | None:
    """Resolve `url`'s host; the URL to connect to, or None when no pinning applies.

    The host must be public or allowed by the process's network policy
    (`kit.netguard`, ``AGENTDECK_NETWORK__ALLOWED_PRIVATE_HOSTS``); `allow_private_network`
    allows every host. Raises NodeError(kind="forbidden") for a non-public address that is
    not allowed, and NodeError(kind="network") when the name does not resolve.
    """
    if ports.allow_private_network:
        return None
    if url.scheme not in ("http", "https"):
        raise NodeError("forbidden", f"scheme {url.scheme!r} is not allowed")
    try:
        address = await netguard.public_address(str(url), ports.resolver)
    except netguard.Unresolvable as exc:
        cause = exc.__cause__
        raise NodeError("network", f"cannot resolve {url.host!r}: {cause or exc}") from exc
    except netguard.PrivateAddress as exc:
        raise NodeError("forbidden", str(exc)) from exc
    return url.copy_with(host=address)


def _headers(raw: Any) -> dict[str, str]:
    """The rendered headers as strings; NodeError(kind="invalid_input") for one that cannot
    travel in HTTP (a bad name, a line break, a non-ASCII value)."""
    if not isinstance(raw, dict):
        raise NodeError("invalid_input", "headers must be a mapping of names to values")
    headers = {str(k): str(v) for k, v in raw.items()}
    for name, value in headers.items():
        problem = header_problem(name, value)
        if problem is not None:
            raise NodeError("invalid_input", problem, detail={"field": "headers"})
    return headers


def _error_kind(status: int) -> ErrorKind:
    if status == 429:
        return "rate_limit"
    return "http_5xx" if status >= 500 else "http_4xx"


def _parse(response: httpx.Response) -> Any:
    if len(response.content) > MAX_BODY_BYTES:
        raise NodeError("invalid_output", f"response larger than {MAX_BODY_BYTES} bytes")
    if "json" in response.headers.get("content-type", ""):
        try:
            return response.json()
        except ValueError:
            return response.text
    return response.text


async def run_http(ctx: NodeContext) -> NodeResult:
    """Send the request; output `{status, headers, body}` with a JSON or text body.

    Raises NodeError: forbidden (private address), invalid_input (a header that cannot be
    sent), network, timeout, http_4xx, http_5xx, rate_limit (429; `Retry-After` in detail).
    """
    node = ctx.node
    assert isinstance(node, HttpNode)
    client = ctx.ports.http
    if client is None:
        raise NodeError("internal", "no HTTP client configured")
    config = ctx.config
    try:
        url = httpx.URL(str(config["url"]))
    except httpx.InvalidURL as exc:
        raise NodeError("invalid_input", f"invalid url: {exc}") from exc
    headers = _headers(config["headers"])
    headers["Idempotency-Key"] = ctx.idempotency_key
    extensions: dict[str, Any] = {}
    pinned = await pin_public_address(url, ctx.ports)
    if pinned is not None and pinned.host != url.host:
        headers["Host"] = url.netloc.decode("ascii")
        if url.scheme == "https":
            extensions["sni_hostname"] = url.host
    request = client.build_request(
        node.method,
        pinned or url,
        headers=headers,
        params=config["params"] or None,
        json=config["json_body"],
        content=config["body"],
        timeout=node.timeout or DEFAULT_TIMEOUT,
        extensions=extensions,
    )
    try:
        response = await client.send(request, follow_redirects=False)
    except httpx.TimeoutException as exc:
        raise NodeError("timeout", f"{node.method} {url.host}: {exc!r}") from exc
    except httpx.TransportError as exc:
        raise NodeError("network", f"{node.method} {url.host}: {exc!r}") from exc
    body = _parse(response)
    if response.status_code >= 400:
        kind = _error_kind(response.status_code)
        detail: dict[str, Any] = {"status": response.status_code, "body": body}
        if "retry-after" in response.headers:
            detail["retry_after"] = response.headers["retry-after"]
        raise NodeError(kind, f"HTTP {response.status_code} from {url.host}", detail=detail)
    output = {"status": response.status_code, "headers": dict(response.headers), "body": body}
    return NodeResult(output=output)
