"""``github``: issues (create, list, comment) and pull requests (list) over the REST API v3.

Config: ``base_url`` (default ``https://api.github.com``; GitHub Enterprise Server is
``https://<host>/api/v3``), ``timeout``, ``max_result_bytes``. The credential gives the
``Authorization: Bearer <token>`` header. Results keep the fields a model needs.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agentdeck.tools.base import ToolError, ToolsetConfig
from agentdeck.tools.outbound import HttpResult, api_json
from agentdeck.tools.toolset_config import caller
from agentdeck.tools.typed import CallContext, TypedTool, TypedToolset

DEFAULT_BASE_URL = "https://api.github.com"
HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
_NAME = r"^[A-Za-z0-9_.-]+$"


class Repo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    owner: str = Field(pattern=_NAME, max_length=100, description="Account or organisation")
    repo: str = Field(pattern=_NAME, max_length=100, description="Repository name")


class CreateIssue(Repo):
    title: str = Field(min_length=1, max_length=256)
    body: str | None = None
    labels: list[str] = Field(default_factory=list)
    assignees: list[str] = Field(default_factory=list)


class ListIssues(Repo):
    state: Literal["open", "closed", "all"] = "open"
    labels: list[str] = Field(default_factory=list)
    per_page: int = Field(default=30, ge=1, le=100)
    page: int = Field(default=1, ge=1)


class CommentIssue(Repo):
    issue_number: int = Field(ge=1)
    body: str = Field(min_length=1)


class ListPulls(Repo):
    state: Literal["open", "closed", "all"] = "open"
    per_page: int = Field(default=30, ge=1, le=100)
    page: int = Field(default=1, ge=1)


def _message(body: Any) -> str | None:
    """GitHub's error: ``message``, plus its ``errors`` list (which field, which code)."""
    if not isinstance(body, dict) or "message" not in body:
        return None
    message = str(body["message"])
    if body.get("errors"):
        message += " " + json.dumps(body["errors"], separators=(",", ":"))[:300]
    return message


def _json(result: HttpResult, tool: str) -> Any:
    return api_json(result, tool, _message)


def _issue(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ToolError("invalid_output", "GitHub answered something that is not an issue")
    return {
        "number": raw.get("number"),
        "title": raw.get("title"),
        "state": raw.get("state"),
        "url": raw.get("html_url"),
        "user": (raw.get("user") or {}).get("login"),
        "labels": [
            label.get("name") for label in raw.get("labels") or [] if isinstance(label, dict)
        ],
        "comments": raw.get("comments"),
        "body": raw.get("body"),
        "is_pull_request": "pull_request" in raw,
    }


def _list(raw: Any, tool: str) -> list[Any]:
    if not isinstance(raw, list):
        raise ToolError("invalid_output", "GitHub answered something that is not a list", tool=tool)
    return raw


async def create_issue(args: CreateIssue, ctx: CallContext) -> dict[str, Any]:
    body: dict[str, Any] = {"title": args.title}
    for key in ("body", "labels", "assignees"):
        value = getattr(args, key)
        if value:
            body[key] = value
    result = await ctx.http.request(
        ctx.tool,
        "POST",
        f"/repos/{args.owner}/{args.repo}/issues",
        json_body=body,
        idempotency_key=ctx.idempotency_key,
    )
    return _issue(_json(result, ctx.tool))


async def list_issues(args: ListIssues, ctx: CallContext) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"state": args.state, "per_page": args.per_page, "page": args.page}
    if args.labels:
        params["labels"] = ",".join(args.labels)
    result = await ctx.http.request(
        ctx.tool,
        "GET",
        f"/repos/{args.owner}/{args.repo}/issues",
        params=params,
        idempotency_key=ctx.idempotency_key,
    )
    return [_issue(item) for item in _list(_json(result, ctx.tool), ctx.tool)]


async def comment_issue(args: CommentIssue, ctx: CallContext) -> dict[str, Any]:
    result = await ctx.http.request(
        ctx.tool,
        "POST",
        f"/repos/{args.owner}/{args.repo}/issues/{args.issue_number}/comments",
        json_body={"body": args.body},
        idempotency_key=ctx.idempotency_key,
    )
    raw = _json(result, ctx.tool)
    if not isinstance(raw, dict):
        raise ToolError("invalid_output", "GitHub answered something that is not a comment")
    return {"id": raw.get("id"), "url": raw.get("html_url"), "body": raw.get("body")}


async def list_pull_requests(args: ListPulls, ctx: CallContext) -> list[dict[str, Any]]:
    result = await ctx.http.request(
        ctx.tool,
        "GET",
        f"/repos/{args.owner}/{args.repo}/pulls",
        params={"state": args.state, "per_page": args.per_page, "page": args.page},
        idempotency_key=ctx.idempotency_key,
    )
    return [
        {
            "number": pr.get("number"),
            "title": pr.get("title"),
            "state": pr.get("state"),
            "url": pr.get("html_url"),
            "user": (pr.get("user") or {}).get("login"),
            "draft": pr.get("draft"),
            "head": (pr.get("head") or {}).get("ref"),
            "base": (pr.get("base") or {}).get("ref"),
        }
        for pr in _list(_json(result, ctx.tool), ctx.tool)
        if isinstance(pr, dict)
    ]


TOOLS: list[TypedTool[Any]] = [
    TypedTool("create_issue", "Create an issue in a GitHub repository.", CreateIssue, create_issue),
    TypedTool("list_issues", "List issues of a GitHub repository.", ListIssues, list_issues),
    TypedTool(
        "comment_issue", "Comment on a GitHub issue or pull request.", CommentIssue, comment_issue
    ),
    TypedTool(
        "list_pull_requests",
        "List pull requests of a GitHub repository.",
        ListPulls,
        list_pull_requests,
    ),
]


def build_github(stored: ToolsetConfig) -> TypedToolset:
    """The ``github`` toolset (ToolsetConfigError naming a wrong config key)."""
    return TypedToolset(
        stored.name, "builtin", TOOLS, caller(stored, DEFAULT_BASE_URL, headers=HEADERS)
    )
