"""Reading a toolset's config (builtin, OpenAPI, MCP): base URL, limits, static headers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from agentdeck.kit.headers import header_problem
from agentdeck.tools.base import CallLimits, ToolsetConfig, ToolsetConfigError
from agentdeck.tools.outbound import HttpCaller


def http_url(config: Mapping[str, Any], key: str, default: str | None = None) -> str:
    """The http(s) URL under ``key`` (``default`` when absent; ToolsetConfigError naming
    ``key`` when it is missing without a default or is not an absolute http(s) URL)."""
    value = config.get(key, default)
    if value is None:
        raise ToolsetConfigError(key, "is required")
    if not isinstance(value, str):
        raise ToolsetConfigError(key, "must be a string")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ToolsetConfigError(key, "must be an absolute http:// or https:// URL")
    if parts.username is not None or parts.password is not None:
        raise ToolsetConfigError(key, "must not carry a user name or password (use a credential)")
    return value.rstrip("/")


def limits(config: Mapping[str, Any]) -> CallLimits:
    """The call limits of the config (ToolsetConfigError naming the wrong key)."""
    try:
        return CallLimits.from_config(config)
    except ValueError as exc:
        field = "timeout" if "timeout" in str(exc) else "max_result_bytes"
        raise ToolsetConfigError(field, str(exc)) from None


def static_headers(config: Mapping[str, Any]) -> dict[str, str]:
    """Non-secret headers of the config (``headers``), checked to be sendable."""
    raw = config.get("headers") or {}
    if not isinstance(raw, Mapping):
        raise ToolsetConfigError("headers", "must be a mapping of header names to values")
    headers = {str(k): str(v) for k, v in raw.items()}
    for name, value in headers.items():
        problem = header_problem(name, value)
        if problem is not None:
            raise ToolsetConfigError("headers", problem)
    return headers


def caller(
    stored: ToolsetConfig,
    default_base_url: str | None,
    *,
    headers: Mapping[str, str] | None = None,
    follow_redirects: bool = False,
) -> HttpCaller:
    """The toolset's HTTP caller: base URL (``base_url`` overrides the API's default: GitHub
    Enterprise, Jira Server, tests), auth, limits and headers."""
    config = stored.config
    return HttpCaller(
        base_url=http_url(config, "base_url", default_base_url),
        auth=stored.auth,
        limits=limits(config),
        headers={**(headers or {}), **static_headers(config)},
        follow_redirects=follow_redirects,
    )
