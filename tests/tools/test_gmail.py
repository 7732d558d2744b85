"""The `gmail` builtin against a Gmail-REST-shaped server (users.messages send/list/get,
base64url raw messages, OAuth2 bearer tokens)."""

from __future__ import annotations

import base64
import email
from email import policy
from typing import Any

import pytest

from agentdeck.tools.base import ToolError
from tests.tools.servers import FakeApi, Recorded, Reply, call_once, serving


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _gmail() -> FakeApi:
    api = FakeApi()

    @api.route("POST", "/gmail/v1/users/me/messages/send")
    def send(req: Recorded) -> Reply:
        return Reply(200, {"id": "18c1", "threadId": "18c0", "labelIds": ["SENT"]})

    @api.route("GET", "/gmail/v1/users/me/messages")
    def listing(req: Recorded) -> Reply:
        return Reply(
            200,
            {
                "messages": [{"id": "m1", "threadId": "t1"}],
                "nextPageToken": "p2",
                "resultSizeEstimate": 1,
            },
        )

    @api.route("GET", "/gmail/v1/users/me/messages/expired")
    def expired(req: Recorded) -> Reply:
        return Reply(
            401,
            {
                "error": {
                    "code": 401,
                    "message": "Request had invalid authentication credentials.",
                    "status": "UNAUTHENTICATED",
                }
            },
        )

    @api.route("GET", "/gmail/v1/users/me/messages/{id}")
    def get(req: Recorded) -> Reply:
        return Reply(
            200,
            {
                "id": req.params["id"],
                "threadId": "t1",
                "labelIds": ["INBOX", "UNREAD"],
                "snippet": "Hello there",
                "payload": {
                    "mimeType": "multipart/alternative",
                    "headers": [
                        {"name": "From", "value": "Ann <ann@example.com>"},
                        {"name": "Subject", "value": "Hi"},
                        {"name": "X-Spam", "value": "no"},
                    ],
                    "body": {"size": 0},
                    "parts": [
                        {
                            "mimeType": "text/html",
                            "body": {"size": 5, "data": _b64("<b>Hello</b>")},
                        },
                        {"mimeType": "text/plain", "body": {"size": 5, "data": _b64("Hello ü")}},
                    ],
                },
            },
        )

    return api


@pytest.fixture
async def gmail() -> Any:
    api = _gmail()
    async with serving(api) as url:
        yield api, url


async def _call(url: str, tool: str, args: dict[str, Any]) -> Any:
    config = {"integration": "gmail", "base_url": url}
    return await call_once("builtin", "gmail", config, tool, args, token="ya29.access")


async def test_send_posts_a_base64url_rfc822_message(gmail: Any) -> None:
    api, url = gmail
    result = await _call(
        url,
        "send_message",
        {
            "to": ["bob@example.com"],
            "subject": "Report",
            "body": "Numbers attached ü",
            "thread_id": "18c0",
        },
    )
    assert result == {"id": "18c1", "thread_id": "18c0", "labels": ["SENT"]}
    (req,) = api.requests
    assert (req.method, req.path) == ("POST", "/gmail/v1/users/me/messages/send")
    assert req.headers["authorization"] == "Bearer ya29.access"
    assert req.headers["idempotency-key"] == "run-1:node-1"
    assert set(req.json) == {"raw", "threadId"}
    raw = req.json["raw"]
    assert "=" not in raw and "+" not in raw and "/" not in raw
    message = email.message_from_bytes(
        base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)), policy=policy.default
    )
    assert message["To"] == "bob@example.com"
    assert message["Subject"] == "Report"
    assert message.get_content().strip() == "Numbers attached ü"


async def test_list_and_read(gmail: Any) -> None:
    api, url = gmail
    listed = await _call(url, "list_messages", {"query": "is:unread", "max_results": 5})
    assert listed == {
        "messages": [{"id": "m1", "thread_id": "t1"}],
        "next_page_token": "p2",
        "result_size_estimate": 1,
    }
    read = await _call(url, "read_message", {"message_id": "m1"})
    assert read == {
        "id": "m1",
        "thread_id": "t1",
        "labels": ["INBOX", "UNREAD"],
        "snippet": "Hello there",
        "headers": {"From": "Ann <ann@example.com>", "Subject": "Hi"},
        "text": "Hello ü",
    }
    first, second = api.requests
    assert first.query == {"q": ["is:unread"], "maxResults": ["5"]}
    assert (second.path, second.query) == ("/gmail/v1/users/me/messages/m1", {"format": ["full"]})


async def test_an_expired_token_quotes_googles_message(gmail: Any) -> None:
    _, url = gmail
    with pytest.raises(ToolError) as caught:
        await _call(url, "read_message", {"message_id": "expired"})
    assert caught.value.kind == "http_4xx"
    assert "invalid authentication credentials" in caught.value.message
