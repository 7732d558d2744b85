"""The LangGraph-shaped assistants API over plain HTTP (the SDK suite covers the client)."""

from __future__ import annotations

import httpx

from tests.factories import (
    add_space_member,
    agent_definition,
    create_agent,
    create_space,
    create_tenant,
    join_by_invitation,
    personal_space_id,
)

API = "/api/v1/assistants"


async def test_default_assistant_and_name_lookup(client: httpx.AsyncClient) -> None:
    t = await create_tenant(client)
    space = await personal_space_id(client, t)
    agent = await create_agent(client, t.headers, space, agent_definition("helper"))
    found = await client.post(f"{API}/search", json={"graph_id": "helper"}, headers=t.headers)
    assert found.status_code == 200
    (default,) = found.json()
    assert default["graph_id"] == "helper" and default["name"] == "helper"
    for ref in ("helper", agent["id"], default["assistant_id"]):
        got = await client.get(f"{API}/{ref}", headers=t.headers)
        assert got.status_code == 200 and got.json()["assistant_id"] == default["assistant_id"]
    assert (await client.get(f"{API}/nobody", headers=t.headers)).status_code == 404
    refused = await client.delete(f"{API}/{default['assistant_id']}", headers=t.headers)
    assert refused.status_code == 409


async def test_create_update_versions_delete(client: httpx.AsyncClient) -> None:
    t = await create_tenant(client)
    space = await personal_space_id(client, t)
    await create_agent(client, t.headers, space, agent_definition("writer"))
    created = await client.post(
        API,
        json={"graph_id": "writer", "name": "eu", "metadata": {"region": "eu"}, "extra": 1},
        headers=t.headers,
    )
    assert created.status_code == 200, created.text
    a = created.json()
    assert a["version"] == 1 and a["metadata"] == {"region": "eu"}
    updated = await client.patch(
        f"{API}/{a['assistant_id']}",
        json={"config": {"configurable": {"x": 1}}, "metadata": {"tier": "gold"}},
        headers=t.headers,
    )
    assert updated.status_code == 200
    assert updated.json()["version"] == 2
    assert updated.json()["metadata"] == {"region": "eu", "tier": "gold"}
    versions = await client.post(f"{API}/{a['assistant_id']}/versions", json={}, headers=t.headers)
    assert [v["version"] for v in versions.json()] == [2, 1]
    search = await client.post(
        f"{API}/search", json={"metadata": {"region": "eu"}, "limit": 1}, headers=t.headers
    )
    assert [x["assistant_id"] for x in search.json()] == [a["assistant_id"]]
    count = await client.post(f"{API}/count", json={"graph_id": "writer"}, headers=t.headers)
    assert count.json() == 2
    again = await client.post(
        API,
        json={"graph_id": "writer", "assistant_id": a["assistant_id"], "if_exists": "do_nothing"},
        headers=t.headers,
    )
    assert again.status_code == 200 and again.json()["assistant_id"] == a["assistant_id"]
    schemas = await client.get(f"{API}/{a['assistant_id']}/schemas", headers=t.headers)
    assert schemas.status_code == 200 and schemas.json()["graph_id"] == "writer"
    graph = await client.get(f"{API}/writer/graph", headers=t.headers)
    assert {"source": "first", "target": "second", "conditional": False} in graph.json()["edges"]
    assert (await client.delete(f"{API}/{a['assistant_id']}", headers=t.headers)).status_code == 204
    assert (await client.get(f"{API}/{a['assistant_id']}", headers=t.headers)).status_code == 404


async def test_ambiguous_name_is_409(client: httpx.AsyncClient) -> None:
    t = await create_tenant(client)
    await create_agent(
        client, t.headers, await personal_space_id(client, t), agent_definition("dup")
    )
    shared = (await create_space(client, t))["id"]
    await create_agent(client, t.headers, shared, agent_definition("dup"))
    assert (await client.get(f"{API}/dup", headers=t.headers)).status_code == 409


async def test_viewers_cannot_change(client: httpx.AsyncClient) -> None:
    owner = await create_tenant(client)
    space = (await create_space(client, owner))["id"]
    viewer = await join_by_invitation(client, owner)
    await add_space_member(client, owner, space, viewer.user_id, "viewer")
    await create_agent(client, owner.headers, space, agent_definition("shared-one"))
    assert (await client.get(f"{API}/shared-one", headers=viewer.headers)).status_code == 200
    resp = await client.post(API, json={"graph_id": "shared-one"}, headers=viewer.headers)
    assert resp.status_code == 403


async def test_other_tenant_gets_404(client: httpx.AsyncClient) -> None:
    a, b = await create_tenant(client), await create_tenant(client)
    agent = await create_agent(client, a.headers, await personal_space_id(client, a))
    default = (await client.get(f"{API}/{agent['id']}", headers=a.headers)).json()
    for ref in (agent["name"], agent["id"], default["assistant_id"]):
        assert (await client.get(f"{API}/{ref}", headers=b.headers)).status_code == 404
        patched = await client.patch(f"{API}/{ref}", json={"name": "x"}, headers=b.headers)
        assert patched.status_code == 404
    created = await client.post(API, json={"graph_id": agent["id"]}, headers=b.headers)
    assert created.status_code == 404
    listed = await client.post(f"{API}/search", json={}, headers=b.headers)
    assert default["assistant_id"] not in listed.text
