"""The `http` builtin against a local server: the exact request, auth, Idempotency-Key,
redirects checked by the network policy."""

from __future__ import annotations

import pytest

from agentdeck.kit import netguard
from agentdeck.tools.base import ToolError, ToolsetConfig
from agentdeck.tools.registry import ToolRegistry
from tests.tools.servers import FakeApi, Recorded, Reply, loopback_allowed, serving


async def _auth() -> dict[str, str]:
    return {"Authorization": "Bearer sekret"}


async def test_request_sends_method_headers_query_body_and_key() -> None:
    api = FakeApi()

    @api.route("POST", "/items")
    def create(req: Recorded) -> Reply:
        return Reply(201, {"id": 7, "name": req.json["name"]}, {"ETag": '"v1"'})

    async with serving(api) as url:
        registry = ToolRegistry.from_configs(
            [ToolsetConfig("web", "builtin", {"integration": "http", "base_url": url}, _auth)]
        )
        with loopback_allowed():
            result = await registry.call(
                "web.request",
                {
                    "method": "POST",
                    "url": "/items",
                    "headers": {"X-Trace": "t1"},
                    "query": {"dry": True, "n": 2},
                    "body": {"name": "box"},
                },
                idempotency_key="run1:node1",
            )
        await registry.aclose()
    assert result == {
        "status": 201,
        "headers": {
            "content-type": "application/json; charset=utf-8",
            "content-length": "24",
            "etag": '"v1"',
        },
        "body": {"id": 7, "name": "box"},
    }
    (req,) = api.requests
    assert (req.method, req.path, req.query) == ("POST", "/items", {"dry": ["true"], "n": ["2"]})
    assert req.headers["authorization"] == "Bearer sekret"
    assert req.headers["idempotency-key"] == "run1:node1"
    assert req.headers["x-trace"] == "t1"
    assert req.headers["content-type"] == "application/json"
    assert req.json == {"name": "box"}


async def test_request_is_refused_for_loopback_without_the_policy() -> None:
    api = FakeApi()
    async with serving(api) as url:
        registry = ToolRegistry.from_configs(
            [ToolsetConfig("web", "builtin", {"integration": "http"})]
        )
        with pytest.raises(ToolError) as caught:
            await registry.call("web.request", {"url": url + "/x"}, idempotency_key="k")
        await registry.aclose()
    assert caught.value.kind == "forbidden"
    assert "non-public address" in caught.value.message
    assert api.requests == []


async def test_redirect_to_a_host_the_policy_refuses_is_not_followed() -> None:
    inner = FakeApi()
    outer = FakeApi()
    async with serving(inner) as inner_url, serving(outer) as outer_url:

        @outer.route("GET", "/go")
        def go(req: Recorded) -> Reply:
            return Reply(302, None, {"Location": inner_url + "/secret"})

        port = outer_url.rsplit(":", 1)[1]
        registry = ToolRegistry.from_configs(
            [ToolsetConfig("web", "builtin", {"integration": "http"})]
        )
        only_outer = netguard.NetworkPolicy.parse([f"127.0.0.1:{port}"])
        with netguard.using(only_outer), pytest.raises(ToolError) as caught:
            await registry.call("web.request", {"url": outer_url + "/go"}, idempotency_key="k")
        await registry.aclose()
    assert caught.value.kind == "forbidden"
    assert len(outer.requests) == 1
    assert inner.requests == []


async def test_a_relative_url_without_base_url_is_invalid_input() -> None:
    registry = ToolRegistry.from_configs([ToolsetConfig("web", "builtin", {"integration": "http"})])
    with pytest.raises(ToolError) as caught:
        await registry.call("web.request", {"url": "/x"}, idempotency_key="k")
    assert caught.value.kind == "invalid_input"


async def test_bad_arguments_name_the_field() -> None:
    registry = ToolRegistry.from_configs([ToolsetConfig("web", "builtin", {"integration": "http"})])
    with pytest.raises(ToolError) as caught:
        await registry.call(
            "web.request", {"url": "http://x", "method": "BREW"}, idempotency_key="k"
        )
    assert caught.value.kind == "invalid_input"
    assert "method" in caught.value.message
