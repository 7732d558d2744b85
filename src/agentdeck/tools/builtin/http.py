"""``http``: one request with a method, URL, headers, query and body, through netguard.

Config: ``base_url`` (optional; relative URLs are resolved against it), ``headers``
(static, non-secret), ``timeout``, ``max_result_bytes``. Auth headers come from the
credential. Redirects are followed (at most 5), each hop checked by the network policy.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agentdeck.tools.base import ToolError, ToolsetConfig, ToolsetConfigError, fit_body
from agentdeck.tools.outbound import HttpCaller, raise_for_status
from agentdeck.tools.toolset_config import http_url, limits, static_headers
from agentdeck.tools.typed import CallContext, TypedTool, TypedToolset


class RequestArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = "GET"
    url: str = Field(description="Absolute http(s) URL, or a path under the toolset's base URL")
    headers: dict[str, str] = Field(default_factory=dict)
    query: dict[str, str | int | float | bool] = Field(default_factory=dict)
    body: Any = Field(default=None, description="JSON body (a string is sent as text/plain)")


async def _request(args: RequestArgs, ctx: CallContext) -> dict[str, Any]:
    content: bytes | None = None
    headers = dict(args.headers)
    json_body = None
    if isinstance(args.body, str):
        content = args.body.encode()
        headers.setdefault("Content-Type", "text/plain; charset=utf-8")
    elif args.body is not None:
        json_body = args.body
    url = args.url
    if not url.startswith(("http://", "https://")) and not ctx.http.base_url:
        raise ToolError(
            "invalid_input",
            "url must be absolute (http:// or https://): the toolset has no base_url",
            tool=ctx.tool,
        )
    result = await ctx.http.request(
        ctx.tool,
        args.method,
        url,
        params={k: str(v).lower() if isinstance(v, bool) else v for k, v in args.query.items()},
        json_body=json_body,
        content=content,
        headers=headers,
        idempotency_key=ctx.idempotency_key,
    )
    raise_for_status(result, ctx.tool)
    out: dict[str, Any] = {
        "status": result.status,
        "headers": {k: v for k, v in result.headers.items() if k in _KEPT_HEADERS},
        "body": result.body(),
    }
    if result.truncated:
        out["truncated"] = True
        out["note"] = (
            f"the response body was truncated: only the first {len(result.content)} bytes "
            "were read (the toolset's max_result_bytes)"
        )
    return fit_body(out, ctx.http.limits.max_result_bytes)


_KEPT_HEADERS = frozenset({"content-type", "content-length", "location", "etag", "last-modified"})

REQUEST = TypedTool(
    "request",
    "Send one HTTP request; returns the status, a few headers and the body (JSON or text).",
    RequestArgs,
    _request,
)


def build_http(stored: ToolsetConfig) -> TypedToolset:
    """The ``http`` toolset of the stored config (ToolsetConfigError naming a wrong key)."""
    config = stored.config
    base_url = http_url(config, "base_url") if config.get("base_url") is not None else ""
    if not isinstance(config.get("follow_redirects", True), bool):
        raise ToolsetConfigError("follow_redirects", "must be true or false")
    http = HttpCaller(
        base_url=base_url,
        auth=stored.auth,
        limits=limits(config),
        headers=static_headers(config),
        follow_redirects=bool(config.get("follow_redirects", True)),
    )
    return TypedToolset(stored.name, "builtin", [REQUEST], http)
