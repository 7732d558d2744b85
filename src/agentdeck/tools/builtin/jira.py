"""``jira``: create, search and transition issues over the Jira REST API.

Config: ``base_url`` (required: ``https://<site>.atlassian.net`` or a Jira Server/Data
Center address), ``api_version`` (``"3"``, Jira Cloud, the default; ``"2"``, Jira Server),
``timeout``, ``max_result_bytes``. The credential gives ``Authorization`` (Basic e-mail and
API token on Cloud, Bearer personal access token on Server).

Version 3 wants descriptions as Atlassian Document Format and searches with
``POST /rest/api/3/search/jql``; version 2 takes plain text and ``POST /rest/api/2/search``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agentdeck.tools.base import ToolError, ToolsetConfig, ToolsetConfigError
from agentdeck.tools.outbound import HttpResult, api_json
from agentdeck.tools.toolset_config import caller
from agentdeck.tools.typed import CallContext, TypedTool, TypedToolset

_KEY = r"^[A-Za-z][A-Za-z0-9_]*-[0-9]+$"
_FIELDS = ["summary", "status", "assignee", "issuetype", "priority", "updated"]


class CreateIssue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project_key: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$", description="e.g. OPS")
    summary: str = Field(min_length=1, max_length=255)
    issue_type: str = Field(default="Task", description="Task, Bug, Story, ...")
    description: str | None = None
    labels: list[str] = Field(default_factory=list)


class SearchIssues(BaseModel):
    model_config = ConfigDict(extra="forbid")

    jql: str = Field(min_length=1, description='e.g. project = OPS AND status = "To Do"')
    max_results: int = Field(default=20, ge=1, le=100)


class TransitionIssue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    issue_key: str = Field(pattern=_KEY, description="e.g. OPS-12")
    transition: str = Field(min_length=1, description="Transition name (e.g. Done) or id")


def _message(body: Any) -> str | None:
    """Jira's error: ``errorMessages`` and the per-field ``errors``."""
    if not isinstance(body, dict):
        return None
    parts = [str(m) for m in body.get("errorMessages") or []]
    parts += [f"{k}: {v}" for k, v in (body.get("errors") or {}).items()]
    return "; ".join(parts) or None


def _adf(text: str) -> dict[str, Any]:
    paragraphs = [p for p in text.split("\n\n") if p] or [""]
    return {
        "type": "doc",
        "version": 1,
        "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": p}] if p else []}
            for p in paragraphs
        ],
    }


class _Jira:
    def __init__(self, version: str) -> None:
        self.version = version
        self.root = f"/rest/api/{version}"

    def json(self, result: HttpResult, tool: str) -> Any:
        return api_json(result, tool, _message)

    async def create_issue(self, args: CreateIssue, ctx: CallContext) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "project": {"key": args.project_key},
            "summary": args.summary,
            "issuetype": {"name": args.issue_type},
        }
        if args.description:
            fields["description"] = (
                _adf(args.description) if self.version == "3" else args.description
            )
        if args.labels:
            fields["labels"] = args.labels
        result = await ctx.http.request(
            ctx.tool,
            "POST",
            f"{self.root}/issue",
            json_body={"fields": fields},
            idempotency_key=ctx.idempotency_key,
        )
        body = self.json(result, ctx.tool)
        if not isinstance(body, dict) or "key" not in body:
            raise ToolError("invalid_output", "Jira answered without an issue key", tool=ctx.tool)
        return {"id": body.get("id"), "key": body["key"], "url": body.get("self")}

    async def search_issues(self, args: SearchIssues, ctx: CallContext) -> dict[str, Any]:
        path = f"{self.root}/search/jql" if self.version == "3" else f"{self.root}/search"
        result = await ctx.http.request(
            ctx.tool,
            "POST",
            path,
            json_body={"jql": args.jql, "maxResults": args.max_results, "fields": _FIELDS},
            idempotency_key=ctx.idempotency_key,
        )
        body = self.json(result, ctx.tool)
        if not isinstance(body, dict) or not isinstance(body.get("issues"), list):
            raise ToolError("invalid_output", "Jira answered without an issue list", tool=ctx.tool)
        issues = []
        for issue in body["issues"]:
            fields = issue.get("fields") or {}
            issues.append(
                {
                    "key": issue.get("key"),
                    "summary": fields.get("summary"),
                    "status": (fields.get("status") or {}).get("name"),
                    "type": (fields.get("issuetype") or {}).get("name"),
                    "assignee": (fields.get("assignee") or {}).get("displayName"),
                    "priority": (fields.get("priority") or {}).get("name"),
                    "updated": fields.get("updated"),
                }
            )
        out: dict[str, Any] = {"issues": issues}
        if "total" in body:
            out["total"] = body["total"]
        if body.get("nextPageToken"):
            out["next_page_token"] = body["nextPageToken"]
        return out

    async def transition_issue(self, args: TransitionIssue, ctx: CallContext) -> dict[str, Any]:
        path = f"{self.root}/issue/{args.issue_key}/transitions"
        listed = self.json(
            await ctx.http.request(ctx.tool, "GET", path, idempotency_key=ctx.idempotency_key),
            ctx.tool,
        )
        options = listed.get("transitions") if isinstance(listed, dict) else None
        if not isinstance(options, list):
            raise ToolError("invalid_output", "Jira answered without transitions", tool=ctx.tool)
        wanted = args.transition.casefold()
        chosen = next(
            (
                t
                for t in options
                if str(t.get("id")) == args.transition
                or str(t.get("name", "")).casefold() == wanted
            ),
            None,
        )
        if chosen is None:
            names = ", ".join(repr(t.get("name")) for t in options) or "none"
            raise ToolError(
                "invalid_input",
                f"{args.issue_key} has no transition {args.transition!r}; available: {names}",
                tool=ctx.tool,
            )
        result = await ctx.http.request(
            ctx.tool,
            "POST",
            path,
            json_body={"transition": {"id": str(chosen["id"])}},
            idempotency_key=ctx.idempotency_key,
        )
        self.json(result, ctx.tool)
        to = (chosen.get("to") or {}).get("name")
        return {"issue_key": args.issue_key, "transition": chosen.get("name"), "status": to}


def build_jira(stored: ToolsetConfig) -> TypedToolset:
    """The ``jira`` toolset (ToolsetConfigError: ``base_url`` is required, ``api_version``
    must be "2" or "3")."""
    version = str(stored.config.get("api_version", "3"))
    if version not in ("2", "3"):
        raise ToolsetConfigError("api_version", 'must be "2" (Jira Server) or "3" (Jira Cloud)')
    jira = _Jira(version)
    tools: list[TypedTool[Any]] = [
        TypedTool("create_issue", "Create a Jira issue.", CreateIssue, jira.create_issue),
        TypedTool(
            "search_issues", "Search Jira issues with JQL.", SearchIssues, jira.search_issues
        ),
        TypedTool(
            "transition_issue",
            "Move a Jira issue through its workflow (e.g. to Done).",
            TransitionIssue,
            jira.transition_issue,
        ),
    ]
    return TypedToolset(stored.name, "builtin", tools, caller(stored, None))
