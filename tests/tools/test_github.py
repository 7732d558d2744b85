"""The `github` builtin against a GitHub-shaped server (REST v3 issues, comments, pulls)."""

from __future__ import annotations

from typing import Any

import pytest

from agentdeck.tools.base import ToolError
from tests.tools.servers import FakeApi, Recorded, Reply, call_once, serving


def _issue(number: int, title: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": 1000 + number,
        "node_id": "I_x",
        "number": number,
        "title": title,
        "state": "open",
        "html_url": f"https://github.com/acme/app/issues/{number}",
        "user": {"login": "octocat", "id": 1},
        "labels": [{"id": 1, "name": "bug", "color": "f00"}],
        "comments": 0,
        "body": "text",
        **extra,
    }


def _github() -> FakeApi:
    api = FakeApi()

    @api.route("POST", "/api/v3/repos/acme/broken/issues")
    def invalid(req: Recorded) -> Reply:
        return Reply(
            422,
            {
                "message": "Validation Failed",
                "errors": [{"resource": "Issue", "code": "missing_field", "field": "title"}],
            },
        )

    @api.route("GET", "/api/v3/repos/acme/garbage/issues")
    def garbage(req: Recorded) -> Reply:
        return Reply(200, raw=b"<html>oops</html>", headers={"content-type": "application/json"})

    @api.route("POST", "/api/v3/repos/{owner}/{repo}/issues")
    def create(req: Recorded) -> Reply:
        return Reply(201, _issue(7, req.json["title"]))

    @api.route("GET", "/api/v3/repos/{owner}/{repo}/issues")
    def issues(req: Recorded) -> Reply:
        return Reply(200, [_issue(1, "a"), _issue(2, "b", pull_request={"url": "..."})])

    @api.route("POST", "/api/v3/repos/{owner}/{repo}/issues/{number}/comments")
    def comment(req: Recorded) -> Reply:
        return Reply(
            201, {"id": 55, "html_url": "https://github.com/c/55", "body": req.json["body"]}
        )

    @api.route("GET", "/api/v3/repos/{owner}/{repo}/pulls")
    def pulls(req: Recorded) -> Reply:
        return Reply(
            200,
            [
                {
                    "number": 3,
                    "title": "Fix",
                    "state": "open",
                    "html_url": "u",
                    "user": {"login": "x"},
                    "draft": False,
                    "head": {"ref": "fix"},
                    "base": {"ref": "main"},
                }
            ],
        )

    return api


async def _call(url: str, tool: str, args: dict[str, Any]) -> Any:
    return await call_once(
        "builtin", "github", {"integration": "github", "base_url": url + "/api/v3"}, tool, args
    )


@pytest.fixture
async def github() -> Any:
    api = _github()
    async with serving(api) as url:
        yield api, url


async def test_create_issue_sends_the_v3_request(github: Any) -> None:
    api, url = github
    result = await _call(
        url,
        "create_issue",
        {"owner": "acme", "repo": "app", "title": "Broken", "body": "It fails", "labels": ["bug"]},
    )
    assert result["number"] == 7
    assert result["url"] == "https://github.com/acme/app/issues/7"
    assert result["labels"] == ["bug"]
    (req,) = api.requests
    assert (req.method, req.path) == ("POST", "/api/v3/repos/acme/app/issues")
    assert req.headers["authorization"] == "Bearer tok-123"
    assert req.headers["idempotency-key"] == "run-1:node-1"
    assert req.headers["accept"] == "application/vnd.github+json"
    assert req.headers["x-github-api-version"] == "2022-11-28"
    assert req.json == {"title": "Broken", "body": "It fails", "labels": ["bug"]}


async def test_list_issues_and_pulls_send_the_query(github: Any) -> None:
    api, url = github
    issues = await _call(
        url,
        "list_issues",
        {"owner": "acme", "repo": "app", "state": "all", "labels": ["bug", "ui"], "per_page": 5},
    )
    assert [(i["number"], i["is_pull_request"]) for i in issues] == [(1, False), (2, True)]
    pulls = await _call(url, "list_pull_requests", {"owner": "acme", "repo": "app"})
    assert pulls == [
        {
            "number": 3,
            "title": "Fix",
            "state": "open",
            "url": "u",
            "user": "x",
            "draft": False,
            "head": "fix",
            "base": "main",
        }
    ]
    first, second = api.requests
    assert (first.method, first.path) == ("GET", "/api/v3/repos/acme/app/issues")
    assert first.query == {"state": ["all"], "labels": ["bug,ui"], "per_page": ["5"], "page": ["1"]}
    assert second.path == "/api/v3/repos/acme/app/pulls"
    assert second.query == {"state": ["open"], "per_page": ["30"], "page": ["1"]}


async def test_comment_issue(github: Any) -> None:
    api, url = github
    result = await _call(
        url, "comment_issue", {"owner": "acme", "repo": "app", "issue_number": 7, "body": "On it"}
    )
    assert result == {"id": 55, "url": "https://github.com/c/55", "body": "On it"}
    (req,) = api.requests
    assert req.path == "/api/v3/repos/acme/app/issues/7/comments"
    assert req.json == {"body": "On it"}


async def test_a_422_quotes_githubs_message(github: Any) -> None:
    _, url = github
    with pytest.raises(ToolError) as caught:
        await _call(url, "create_issue", {"owner": "acme", "repo": "broken", "title": "x"})
    assert caught.value.kind == "http_4xx"
    assert "Validation Failed" in caught.value.message
    assert "missing_field" in caught.value.message


async def test_a_garbage_body_is_invalid_output(github: Any) -> None:
    _, url = github
    with pytest.raises(ToolError) as caught:
        await _call(url, "list_issues", {"owner": "acme", "repo": "garbage"})
    assert caught.value.kind == "invalid_output"
    assert "not JSON" in caught.value.message


async def test_owner_and_repo_cannot_escape_the_path(github: Any) -> None:
    _, url = github
    with pytest.raises(ToolError) as caught:
        await _call(url, "list_issues", {"owner": "..%2f", "repo": "x/../../admin"})
    assert caught.value.kind == "invalid_input"
