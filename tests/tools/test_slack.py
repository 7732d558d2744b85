"""The `slack` builtin against a Slack-Web-API-shaped server (`ok` field semantics)."""

from __future__ import annotations

from typing import Any

import pytest

from agentdeck.tools.base import ToolError
from tests.tools.servers import FakeApi, Recorded, Reply, call_once, serving


def _slack() -> FakeApi:
    api = FakeApi()

    @api.route("POST", "/api/chat.postMessage")
    def post(req: Recorded) -> Reply:
        if req.json["channel"] == "C404":
            return Reply(200, {"ok": False, "error": "channel_not_found"})
        return Reply(
            200,
            {
                "ok": True,
                "channel": req.json["channel"],
                "ts": "1700000000.000100",
                "message": {"text": req.json["text"], "type": "message"},
            },
        )

    @api.route("GET", "/api/conversations.list")
    def channels(req: Recorded) -> Reply:
        return Reply(
            200,
            {
                "ok": True,
                "channels": [
                    {
                        "id": "C1",
                        "name": "general",
                        "is_private": False,
                        "is_archived": False,
                        "num_members": 4,
                        "topic": {"value": "hi"},
                    }
                ],
                "response_metadata": {"next_cursor": "dGVhbTpDMDYx"},
            },
        )

    return api


async def _call(url: str, tool: str, args: dict[str, Any], token: str = "xoxb-1") -> Any:
    config = {"integration": "slack", "base_url": url + "/api"}
    return await call_once("builtin", "slack", config, tool, args, token=token)


@pytest.fixture
async def slack() -> Any:
    api = _slack()
    async with serving(api) as url:
        yield api, url


async def test_post_message(slack: Any) -> None:
    api, url = slack
    result = await _call(
        url, "post_message", {"channel": "C1", "text": "Deployed", "thread_ts": "1.2"}
    )
    assert result == {"channel": "C1", "ts": "1700000000.000100"}
    (req,) = api.requests
    assert (req.method, req.path) == ("POST", "/api/chat.postMessage")
    assert req.headers["authorization"] == "Bearer xoxb-1"
    assert req.headers["idempotency-key"] == "run-1:node-1"
    assert req.headers["content-type"] == "application/json; charset=utf-8"
    assert req.json == {"channel": "C1", "text": "Deployed", "thread_ts": "1.2"}


async def test_ok_false_is_a_tool_error_naming_slacks_error(slack: Any) -> None:
    _, url = slack
    with pytest.raises(ToolError) as caught:
        await _call(url, "post_message", {"channel": "C404", "text": "x"})
    assert caught.value.kind == "tool"
    assert "channel_not_found" in caught.value.message
    assert caught.value.detail == {"error": "channel_not_found"}


async def test_list_channels_pages_with_the_cursor(slack: Any) -> None:
    api, url = slack
    result = await _call(url, "list_channels", {"limit": 10, "cursor": "abc"})
    assert result == {
        "channels": [
            {
                "id": "C1",
                "name": "general",
                "is_private": False,
                "is_archived": False,
                "num_members": 4,
                "topic": "hi",
            }
        ],
        "next_cursor": "dGVhbTpDMDYx",
    }
    (req,) = api.requests
    assert (req.method, req.path) == ("GET", "/api/conversations.list")
    assert req.query == {
        "types": ["public_channel"],
        "exclude_archived": ["true"],
        "limit": ["10"],
        "cursor": ["abc"],
    }
