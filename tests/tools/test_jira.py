"""The `jira` builtin against a Jira-REST-shaped server (v3 Cloud and v2 Server)."""

from __future__ import annotations

from typing import Any

import pytest

from agentdeck.tools.base import ToolError
from tests.tools.servers import FakeApi, Recorded, Reply, call_once, serving


def _jira() -> FakeApi:
    api = FakeApi()

    @api.route("POST", "/rest/api/{v}/issue")
    def create(req: Recorded) -> Reply:
        if "summary" not in req.json["fields"]:
            return Reply(400, {"errorMessages": [], "errors": {"summary": "Summary is required."}})
        return Reply(
            201,
            {
                "id": "10001",
                "key": "OPS-12",
                "self": "https://acme.atlassian.net/rest/api/3/issue/10001",
            },
        )

    def _issues(req: Recorded) -> dict[str, Any]:
        return {
            "issues": [
                {
                    "id": "1",
                    "key": "OPS-1",
                    "fields": {
                        "summary": "Disk full",
                        "status": {"name": "To Do"},
                        "issuetype": {"name": "Bug"},
                        "assignee": {"displayName": "Ann"},
                        "priority": {"name": "High"},
                        "updated": "2026-01-01T10:00:00.000+0000",
                    },
                }
            ]
        }

    @api.route("POST", "/rest/api/3/search/jql")
    def search3(req: Recorded) -> Reply:
        return Reply(200, {**_issues(req), "nextPageToken": "n2", "isLast": False})

    @api.route("POST", "/rest/api/2/search")
    def search2(req: Recorded) -> Reply:
        return Reply(200, {**_issues(req), "startAt": 0, "maxResults": 20, "total": 1})

    @api.route("GET", "/rest/api/{v}/issue/{key}/transitions")
    def transitions(req: Recorded) -> Reply:
        return Reply(
            200,
            {
                "transitions": [
                    {"id": "11", "name": "In Progress", "to": {"name": "In Progress"}},
                    {"id": "31", "name": "Done", "to": {"name": "Done"}},
                ]
            },
        )

    @api.route("POST", "/rest/api/{v}/issue/{key}/transitions")
    def transition(req: Recorded) -> Reply:
        return Reply(204)

    return api


@pytest.fixture
async def jira() -> Any:
    api = _jira()
    async with serving(api) as url:
        yield api, url


async def _call(url: str, tool: str, args: dict[str, Any], version: str = "3") -> Any:
    config = {"integration": "jira", "base_url": url, "api_version": version}
    return await call_once("builtin", "jira", config, tool, args)


async def test_create_issue_v3_sends_adf(jira: Any) -> None:
    api, url = jira
    result = await _call(
        url,
        "create_issue",
        {
            "project_key": "OPS",
            "summary": "Disk full",
            "issue_type": "Bug",
            "description": "a\n\nb",
        },
    )
    assert result == {
        "id": "10001",
        "key": "OPS-12",
        "url": "https://acme.atlassian.net/rest/api/3/issue/10001",
    }
    (req,) = api.requests
    assert (req.method, req.path) == ("POST", "/rest/api/3/issue")
    assert req.headers["authorization"] == "Bearer tok-123"
    assert req.headers["idempotency-key"] == "run-1:node-1"
    assert req.json == {
        "fields": {
            "project": {"key": "OPS"},
            "summary": "Disk full",
            "issuetype": {"name": "Bug"},
            "description": {
                "type": "doc",
                "version": 1,
                "content": [
                    {"type": "paragraph", "content": [{"type": "text", "text": "a"}]},
                    {"type": "paragraph", "content": [{"type": "text", "text": "b"}]},
                ],
            },
        }
    }


async def test_create_issue_v2_sends_plain_text(jira: Any) -> None:
    api, url = jira
    await _call(
        url,
        "create_issue",
        {"project_key": "OPS", "summary": "S", "description": "plain"},
        version="2",
    )
    (req,) = api.requests
    assert req.path == "/rest/api/2/issue"
    assert req.json["fields"]["description"] == "plain"
    assert req.json["fields"]["issuetype"] == {"name": "Task"}


async def test_search_v3_and_v2(jira: Any) -> None:
    api, url = jira
    found = await _call(url, "search_issues", {"jql": "project = OPS", "max_results": 5})
    assert found == {
        "issues": [
            {
                "key": "OPS-1",
                "summary": "Disk full",
                "status": "To Do",
                "type": "Bug",
                "assignee": "Ann",
                "priority": "High",
                "updated": "2026-01-01T10:00:00.000+0000",
            }
        ],
        "next_page_token": "n2",
    }
    found2 = await _call(url, "search_issues", {"jql": "project = OPS"}, version="2")
    assert found2["total"] == 1
    v3, v2 = api.requests
    assert (v3.method, v3.path) == ("POST", "/rest/api/3/search/jql")
    assert v3.json == {
        "jql": "project = OPS",
        "maxResults": 5,
        "fields": ["summary", "status", "assignee", "issuetype", "priority", "updated"],
    }
    assert v2.path == "/rest/api/2/search"


async def test_transition_by_name(jira: Any) -> None:
    api, url = jira
    result = await _call(url, "transition_issue", {"issue_key": "OPS-1", "transition": "done"})
    assert result == {"issue_key": "OPS-1", "transition": "Done", "status": "Done"}
    listed, moved = api.requests
    assert (listed.method, listed.path) == ("GET", "/rest/api/3/issue/OPS-1/transitions")
    assert (moved.method, moved.path) == ("POST", "/rest/api/3/issue/OPS-1/transitions")
    assert moved.json == {"transition": {"id": "31"}}
    assert moved.headers["idempotency-key"] == "run-1:node-1"


async def test_an_unknown_transition_lists_the_available_ones(jira: Any) -> None:
    _, url = jira
    with pytest.raises(ToolError) as caught:
        await _call(url, "transition_issue", {"issue_key": "OPS-1", "transition": "Closed"})
    assert caught.value.kind == "invalid_input"
    assert "'In Progress', 'Done'" in caught.value.message


async def test_jira_needs_a_base_url() -> None:
    from agentdeck.tools.base import ToolsetConfig, ToolsetConfigError
    from agentdeck.tools.registry import build_toolset

    with pytest.raises(ToolsetConfigError) as caught:
        build_toolset(ToolsetConfig("jira", "builtin", {"integration": "jira"}))
    assert caught.value.field == "base_url"
