"""The built console is served at `/`, after every API route, with client-side routes falling
back to index.html and the API's unknown paths still the API's 404."""

from __future__ import annotations

import re

import httpx

from agentdeck.console import STATIC


def _asset() -> str:
    index = (STATIC / "index.html").read_text()
    match = re.search(r'src="(/assets/[^"]+\.js)"', index)
    assert match, "index.html names its entry script"
    return match.group(1)


async def test_root_serves_the_console(client: httpx.AsyncClient) -> None:
    r = await client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert '<div id="root">' in r.text
    assert r.headers["cache-control"] == "no-cache"


async def test_client_side_routes_fall_back_to_index(client: httpx.AsyncClient) -> None:
    for path in ("/agents", "/agents/0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e11", "/settings?tab=keys"):
        r = await client.get(path)
        assert r.status_code == 200, path
        assert '<div id="root">' in r.text


async def test_assets_are_cached_for_good(client: httpx.AsyncClient) -> None:
    r = await client.get(_asset())
    assert r.status_code == 200
    assert "javascript" in r.headers["content-type"]
    assert "immutable" in r.headers["cache-control"]


async def test_missing_assets_and_traversal_are_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/assets/nope.js")).status_code == 404
    r = await client.get("/assets/..%2F..%2F__init__.py")
    assert r.status_code == 404


async def test_api_routes_come_first(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.json()["status"] == "ok"
    r = await client.get("/api/v1/openapi.json")
    assert r.json()["info"]["title"] == "agentdeck"
    r = await client.get("/api/v1/no-such-route")
    assert r.status_code == 404
    assert "text/html" not in r.headers.get("content-type", "")
    r = await client.get("/api/v1/agents")
    assert r.status_code == 401
