"""A tool server that hangs, answers 500, garbage or 10 MB, or drops the connection: the
call becomes a ToolError (or a result that says it was truncated), and the process goes on."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agentdeck.tools.base import ToolError, ToolsetConfig
from agentdeck.tools.registry import ToolRegistry
from tests.tools.servers import FakeApi, Receive, Recorded, Reply, Send, loopback_allowed, serving


def _api() -> FakeApi:
    api = FakeApi()

    @api.route("GET", "/hang", raw=True)
    async def hang(req: Recorded, receive: Receive, send: Send) -> None:
        await receive()  # returns only when the client goes away

    @api.route("GET", "/fail")
    def fail(req: Recorded) -> Reply:
        return Reply(500, {"message": "boom"})

    @api.route("GET", "/busy")
    def busy(req: Recorded) -> Reply:
        return Reply(429, {"message": "slow down"}, {"Retry-After": "7"})

    @api.route("GET", "/big")
    def big(req: Recorded) -> Reply:
        return Reply(200, raw=b"x" * 10_000_000, headers={"content-type": "text/plain"})

    @api.route("GET", "/drop", raw=True)
    async def drop(req: Recorded, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"1000")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"partial": ', "more_body": True})
        raise RuntimeError("the server dies mid-response")

    @api.route("GET", "/ok")
    def ok(req: Recorded) -> Reply:
        return Reply(200, {"ok": True})

    return api


async def _call(url: str, path: str, **config: Any) -> Any:
    registry = ToolRegistry.from_configs(
        [ToolsetConfig("web", "builtin", {"integration": "http", "base_url": url, **config})]
    )
    try:
        with loopback_allowed():
            return await registry.call("web.request", {"url": path}, idempotency_key="k")
    finally:
        await registry.aclose()


@pytest.fixture
async def url() -> Any:
    async with serving(_api()) as base:
        yield base


async def test_a_hanging_server_times_out(url: str) -> None:
    with pytest.raises(ToolError) as caught:
        await _call(url, "/hang", timeout=0.3)
    assert caught.value.kind == "timeout"
    assert "0.3 s" in caught.value.message


async def test_a_500_is_an_http_5xx_error_quoting_the_body(url: str) -> None:
    with pytest.raises(ToolError) as caught:
        await _call(url, "/fail")
    assert caught.value.kind == "http_5xx"
    assert "HTTP 500" in caught.value.message and "boom" in caught.value.message
    assert caught.value.to_dict()["detail"] == {"status": 500}


async def test_a_429_is_a_rate_limit_with_retry_after(url: str) -> None:
    with pytest.raises(ToolError) as caught:
        await _call(url, "/busy")
    assert caught.value.kind == "rate_limit"
    assert "retry after 7 s" in caught.value.message


async def test_a_10_mb_body_is_capped_and_says_truncated(url: str) -> None:
    result = await _call(url, "/big", max_result_bytes=50_000)
    assert result["truncated"] is True
    assert "truncated" in result["note"]
    assert 49_000 < len(result["body"]) < 50_000
    assert set(result["body"]) == {"x"}


async def test_a_connection_dropped_mid_response_is_a_network_error(url: str) -> None:
    with pytest.raises(ToolError) as caught:
        await _call(url, "/drop")
    assert caught.value.kind == "network"
    assert "connection broke" in caught.value.message


async def test_a_closed_port_is_a_network_error() -> None:
    async with serving(FakeApi()) as base:
        pass  # the server is gone: its port refuses connections
    with pytest.raises(ToolError) as caught:
        await _call(base, "/ok")
    assert caught.value.kind == "network"


async def test_the_process_goes_on_after_every_failure(url: str) -> None:
    outcomes = await asyncio.gather(
        *(
            _call(url, p, timeout=0.3 if p == "/hang" else 30)
            for p in ("/hang", "/fail", "/drop", "/ok")
        ),
        return_exceptions=True,
    )
    assert [type(o).__name__ for o in outcomes] == ["ToolError", "ToolError", "ToolError", "dict"]
    assert await _call(url, "/ok") == {
        "status": 200,
        "headers": {"content-type": "application/json; charset=utf-8", "content-length": "12"},
        "body": {"ok": True},
    }
