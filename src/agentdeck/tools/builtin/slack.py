"""``slack``: post a message (``chat.postMessage``) and list channels
(``conversations.list``) over the Slack Web API.

Config: ``base_url`` (default ``https://slack.com/api``), ``timeout``, ``max_result_bytes``.
The credential gives ``Authorization: Bearer xoxb-...``. Slack answers HTTP 200 with
``"ok": false`` and an ``error`` code for most failures; that is a ToolError naming it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agentdeck.tools.base import ToolError, ToolsetConfig
from agentdeck.tools.outbound import HttpResult, api_json
from agentdeck.tools.toolset_config import caller
from agentdeck.tools.typed import CallContext, TypedTool, TypedToolset

DEFAULT_BASE_URL = "https://slack.com/api"
_CLIENT_ERRORS = {
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "missing_scope",
}


class PostMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: str = Field(min_length=1, description="Channel id (C...) or name (#general)")
    text: str = Field(min_length=1, max_length=40_000)
    thread_ts: str | None = Field(default=None, description="Reply in this thread")


class ListChannels(BaseModel):
    model_config = ConfigDict(extra="forbid")

    types: str = Field(default="public_channel", description="e.g. public_channel,private_channel")
    exclude_archived: bool = True
    limit: int = Field(default=100, ge=1, le=1000)
    cursor: str | None = None


def _ok(result: HttpResult, tool: str) -> dict[str, Any]:
    body = api_json(result, tool, lambda b: b.get("error") if isinstance(b, dict) else None)
    if not isinstance(body, dict) or "ok" not in body:
        raise ToolError("invalid_output", "Slack answered without an `ok` field", tool=tool)
    if body["ok"] is not True:
        error = str(body.get("error") or "unknown_error")
        kind: Any = "rate_limit" if error == "ratelimited" else "tool"
        hint = " (the credential is not accepted)" if error in _CLIENT_ERRORS else ""
        raise ToolError(
            kind, f"Slack refused the call: {error}{hint}", tool=tool, detail={"error": error}
        )
    return body


async def post_message(args: PostMessage, ctx: CallContext) -> dict[str, Any]:
    body: dict[str, Any] = {"channel": args.channel, "text": args.text}
    if args.thread_ts:
        body["thread_ts"] = args.thread_ts
    result = await ctx.http.request(
        ctx.tool,
        "POST",
        "/chat.postMessage",
        json_body=body,
        headers={"Content-Type": "application/json; charset=utf-8"},
        idempotency_key=ctx.idempotency_key,
    )
    answer = _ok(result, ctx.tool)
    return {"channel": answer.get("channel"), "ts": answer.get("ts")}


async def list_channels(args: ListChannels, ctx: CallContext) -> dict[str, Any]:
    params: dict[str, Any] = {
        "types": args.types,
        "exclude_archived": "true" if args.exclude_archived else "false",
        "limit": args.limit,
        "cursor": args.cursor,
    }
    result = await ctx.http.request(
        ctx.tool, "GET", "/conversations.list", params=params, idempotency_key=ctx.idempotency_key
    )
    answer = _ok(result, ctx.tool)
    channels = [
        {
            "id": c.get("id"),
            "name": c.get("name"),
            "is_private": c.get("is_private"),
            "is_archived": c.get("is_archived"),
            "num_members": c.get("num_members"),
            "topic": (c.get("topic") or {}).get("value"),
        }
        for c in answer.get("channels") or []
        if isinstance(c, dict)
    ]
    cursor = (answer.get("response_metadata") or {}).get("next_cursor") or None
    return {"channels": channels, "next_cursor": cursor}


TOOLS: list[TypedTool[Any]] = [
    TypedTool(
        "post_message", "Post a message to a Slack channel or thread.", PostMessage, post_message
    ),
    TypedTool(
        "list_channels",
        "List Slack channels (paged with next_cursor).",
        ListChannels,
        list_channels,
    ),
]


def build_slack(stored: ToolsetConfig) -> TypedToolset:
    """The ``slack`` toolset (ToolsetConfigError naming a wrong config key)."""
    return TypedToolset(stored.name, "builtin", TOOLS, caller(stored, DEFAULT_BASE_URL))
