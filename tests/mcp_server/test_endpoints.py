"""/mcp on the app: 401 with WWW-Authenticate without a key, RFC 9728 metadata, the exact path
answering without a redirect, the session manager running in the app's lifespan."""

from __future__ import annotations

import httpx
import pytest

from tests.factories import create_api_key, create_tenant
from tests.mcp_server.conftest import mcp_client

_INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"},
    },
}
_ACCEPT = {"Accept": "application/json, text/event-stream"}
METADATA = "/.well-known/oauth-protected-resource"


async def test_without_a_key_401_names_the_resource_metadata(client: httpx.AsyncClient) -> None:
    resp = await client.post("/mcp", json=_INIT, headers=_ACCEPT)
    assert resp.status_code == 401
    assert resp.headers["content-type"].startswith("application/problem+json")
    challenge = resp.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert f'resource_metadata="http://test{METADATA}/mcp"' in challenge
    assert "error=" not in challenge  # no credentials: no error code (RFC 6750 section 3.1)


@pytest.mark.parametrize("headers", [{"Authorization": "Bearer ad_nope"}, {"X-Api-Key": "ad_x"}])
async def test_a_bad_key_is_401_invalid_token(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    resp = await client.post("/mcp", json=_INIT, headers={**_ACCEPT, **headers})
    assert resp.status_code == 401
    assert 'error="invalid_token"' in resp.headers["www-authenticate"]


@pytest.mark.parametrize("path", [f"{METADATA}/mcp", METADATA, f"/mcp{METADATA}"])
async def test_protected_resource_metadata(client: httpx.AsyncClient, path: str) -> None:
    resp = await client.get(path)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["resource"] == "http://test/mcp"
    assert body["bearer_methods_supported"] == ["header"]


async def test_post_mcp_answers_on_the_exact_path(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        tenant = await create_tenant(http)
        key = (await create_api_key(http, tenant, scopes=["run"]))["key"]
        resp = await http.post(
            "/mcp", json=_INIT, headers={**_ACCEPT, "Authorization": f"Bearer {key}"}
        )
        assert resp.status_code == 200, resp.text
        assert resp.json()["result"]["serverInfo"]["name"] == "agentdeck"
        unauthenticated = await http.post("/mcp", json=_INIT, headers=_ACCEPT)
        assert unauthenticated.status_code == 401


@pytest.mark.parametrize("credential", ["api_key", "access_token"])
async def test_the_official_client_connects(base_url: str, credential: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        tenant = await create_tenant(http)
        key = (await create_api_key(http, tenant, scopes=["read"]))["key"]
    token = key if credential == "api_key" else tenant.access_token
    async with mcp_client(base_url, token) as mcp:
        tools = (await mcp.list_tools()).tools
    assert [t.name for t in tools] == ["search_knowledge"]


async def test_a_host_outside_the_allowed_hosts_is_refused(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        tenant = await create_tenant(http)
        key = (await create_api_key(http, tenant, scopes=["read"]))["key"]
        resp = await http.post(
            "/mcp",
            json=_INIT,
            headers={**_ACCEPT, "Authorization": f"Bearer {key}", "Host": "evil.example"},
        )
    assert resp.status_code == 421
