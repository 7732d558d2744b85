"""/api/v1/toolsets through the HTTP API: CRUD, tools, refresh, trying a tool, tenancy."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.factories import create_space, create_tenant, personal_space_id
from tests.tool.support import SECRET, GitHub, bearer_credential, github_toolset
from tests.tools.servers import loopback_allowed, serving


@pytest.fixture
async def github() -> AsyncIterator[tuple[GitHub, str]]:
    server = GitHub()
    with loopback_allowed():
        async with serving(server.api) as url:
            yield server, url


async def test_github_toolset_lists_and_calls_its_tools(
    client: httpx.AsyncClient, github: tuple[GitHub, str]
) -> None:
    server, url = github
    tenant = await create_tenant(client)
    space = await personal_space_id(client, tenant)
    cred = await bearer_credential(client, tenant)
    toolset = await github_toolset(client, tenant, space, url, cred["id"])
    assert toolset["kind"] == "builtin" and toolset["tool_count"] == 4
    assert len(toolset["tools_hash"]) == 64

    tools = await client.get(f"/api/v1/toolsets/{toolset['id']}/tools", headers=tenant.headers)
    assert tools.status_code == 200, tools.text
    names = {t["name"] for t in tools.json()["items"]}
    assert {"create_issue", "list_issues", "comment_issue", "list_pull_requests"} == names
    create = next(t for t in tools.json()["items"] if t["name"] == "create_issue")
    assert "title" in create["input_schema"]["properties"]

    args = {"owner": "acme", "repo": "app", "title": "Broken login"}
    resp = await client.post(
        f"/api/v1/toolsets/{toolset['id']}/tools/create_issue/call",
        json={"arguments": args},
        headers=tenant.headers,
    )
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["ok"] is True and out["tool"] == "github.create_issue"
    assert out["result"]["number"] == 1 and out["result"]["title"] == "Broken login"
    [sent] = server.requests
    assert sent.headers["authorization"] == f"Bearer {SECRET}"
    assert sent.headers["idempotency-key"].startswith("try:")

    # a failing call is the model's tool error, not an HTTP error
    resp = await client.post(
        f"/api/v1/toolsets/{toolset['id']}/tools/create_issue/call",
        json={"arguments": {"owner": "acme"}},
        headers=tenant.headers,
    )
    assert resp.status_code == 200 and resp.json()["ok"] is False
    assert resp.json()["error"]["kind"] == "invalid_input"

    audit = await client.get("/api/v1/audit-logs", headers=tenant.headers)
    actions = [e["action"] for e in audit.json()["items"]]
    assert "toolset.tool_called" in actions and "toolset.created" in actions
    everything = json.dumps([toolset, tools.json(), out, resp.json(), audit.json(), cred])
    assert SECRET not in everything

    refreshed = await client.post(
        f"/api/v1/toolsets/{toolset['id']}/refresh", headers=tenant.headers
    )
    assert refreshed.status_code == 200 and refreshed.json()["tools_hash"] == toolset["tools_hash"]


async def test_crud_names_and_validation(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    space = await personal_space_id(client, tenant)
    body = {"space_id": space, "name": "hooks", "kind": "builtin",
            "config": {"integration": "http"}}  # fmt: skip
    created = await client.post("/api/v1/toolsets", json=body, headers=tenant.headers)
    assert created.status_code == 201, created.text
    tid = created.json()["id"]
    again = await client.post("/api/v1/toolsets", json=body, headers=tenant.headers)
    assert again.status_code == 409 and again.json()["field"] == "name"

    bad = {**body, "name": "bad", "config": {"integration": "nope"}}
    resp = await client.post("/api/v1/toolsets", json=bad, headers=tenant.headers)
    assert resp.status_code == 422 and resp.json()["field"] == "config.integration"
    resp = await client.post(
        "/api/v1/toolsets", json={**body, "name": "Not A Slug"}, headers=tenant.headers
    )
    assert resp.status_code == 422
    stdio = {"space_id": space, "name": "local", "kind": "mcp",
             "config": {"transport": "stdio", "command": "rm"}}  # fmt: skip
    resp = await client.post("/api/v1/toolsets", json=stdio, headers=tenant.headers)
    assert resp.status_code == 422 and resp.json()["field"] == "config.transport"

    listing = await client.get("/api/v1/toolsets", params={"space_id": space},
                               headers=tenant.headers)  # fmt: skip
    assert [t["id"] for t in listing.json()["items"]] == [tid]
    patched = await client.patch(
        f"/api/v1/toolsets/{tid}", json={"name": "web", "config": {"integration": "http",
        "timeout": 5}}, headers=tenant.headers,
    )  # fmt: skip
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "web" and patched.json()["config"]["timeout"] == 5
    resp = await client.patch(f"/api/v1/toolsets/{tid}", json={"config": {"integration": "http",
                              "timeout": -1}}, headers=tenant.headers)  # fmt: skip
    assert resp.status_code == 422 and resp.json()["field"] == "config.timeout"
    assert (
        await client.delete(f"/api/v1/toolsets/{tid}", headers=tenant.headers)
    ).status_code == 204
    assert (await client.get(f"/api/v1/toolsets/{tid}", headers=tenant.headers)).status_code == 404


async def test_credential_must_be_usable_in_the_space(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    space = await personal_space_id(client, tenant)
    other_space = (await create_space(client, tenant))["id"]
    limited = await bearer_credential(client, tenant, space_id=other_space, name="elsewhere")
    body = {"space_id": space, "name": "gh", "kind": "builtin",
            "config": {"integration": "github"}, "credential_id": limited["id"]}  # fmt: skip
    resp = await client.post("/api/v1/toolsets", json=body, headers=tenant.headers)
    assert resp.status_code == 422 and resp.json()["field"] == "credential_id"
    resp = await client.post(
        "/api/v1/toolsets", json={**body, "credential_id": str(uuid.uuid4())},
        headers=tenant.headers,
    )  # fmt: skip
    assert resp.status_code == 404
    stranger = await create_tenant(client)
    theirs = await bearer_credential(client, stranger, name="theirs")
    resp = await client.post(
        "/api/v1/toolsets", json={**body, "credential_id": theirs["id"]}, headers=tenant.headers
    )
    assert resp.status_code == 404


async def test_another_org_gets_404_everywhere(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    space = await personal_space_id(client, tenant)
    body = {"space_id": space, "name": "web", "kind": "builtin",
            "config": {"integration": "http"}}  # fmt: skip
    tid = (await client.post("/api/v1/toolsets", json=body, headers=tenant.headers)).json()["id"]
    other = await create_tenant(client)
    h = other.headers
    assert (await client.get(f"/api/v1/toolsets/{tid}", headers=h)).status_code == 404
    assert (await client.get(f"/api/v1/toolsets/{tid}/tools", headers=h)).status_code == 404
    assert (await client.patch(f"/api/v1/toolsets/{tid}", json={}, headers=h)).status_code == 404
    assert (await client.post(f"/api/v1/toolsets/{tid}/refresh", headers=h)).status_code == 404
    call = await client.post(
        f"/api/v1/toolsets/{tid}/tools/request/call", json={"arguments": {}}, headers=h
    )
    assert call.status_code == 404
    assert (await client.delete(f"/api/v1/toolsets/{tid}", headers=h)).status_code == 404
    assert (await client.get("/api/v1/toolsets", headers=h)).json()["items"] == []
    resp = await client.post("/api/v1/toolsets", json=body, headers=h)
    assert resp.status_code == 404
