"""The agents API: CRUD, immutable versions, YAML import/export, validation, permissions."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import select

from agentdeck.models import AuditLog
from tests.factories import (
    HITL_YAML,
    add_space_member,
    agent_definition,
    create_agent,
    create_api_key,
    create_space,
    create_tenant,
    import_agent,
    join_by_invitation,
    key_headers,
    personal_space_id,
)

API = "/api/v1/agents"


async def _actions(app: Any, org_id: str) -> list[str]:
    async with app.state.runtime.sessionmaker() as session:
        rows = await session.execute(
            select(AuditLog.action)
            .where(AuditLog.org_id == uuid.UUID(org_id))
            .execution_options(tenant_bypass="test")
        )
        return list(rows.scalars())


async def test_crud_with_default_assistant_and_audit(client: httpx.AsyncClient, app: Any) -> None:
    t = await create_tenant(client)
    space = await personal_space_id(client, t)
    agent = await create_agent(client, t.headers, space, agent_definition("triage"))
    assert agent["name"] == "triage" and agent["current_version"] == 1
    assert agent["space_id"] == space

    got = await client.get(f"{API}/{agent['id']}", headers=t.headers)
    assert got.status_code == 200 and got.json()["id"] == agent["id"]
    listed = await client.get(API, params={"space_id": space}, headers=t.headers)
    assert [a["id"] for a in listed.json()["items"]] == [agent["id"]]

    patched = await client.patch(
        f"{API}/{agent['id']}", json={"description": "new words"}, headers=t.headers
    )
    assert patched.status_code == 200 and patched.json()["description"] == "new words"
    refused = await client.patch(
        f"{API}/{agent['id']}", json={"definition": agent_definition()}, headers=t.headers
    )
    assert refused.status_code == 422

    assistants = await client.post(
        "/api/v1/assistants/search", json={"graph_id": "triage"}, headers=t.headers
    )
    assert [a["name"] for a in assistants.json()] == ["triage"]  # the default assistant

    dup = await client.post(
        API, json={"space_id": space, "definition": agent_definition("triage")}, headers=t.headers
    )
    assert dup.status_code == 409 and dup.json()["field"] == "name"

    deleted = await client.delete(f"{API}/{agent['id']}", headers=t.headers)
    assert deleted.status_code == 204
    assert (await client.get(f"{API}/{agent['id']}", headers=t.headers)).status_code == 404
    actions = await _actions(app, t.org_id)
    assert {"agent.created", "agent.updated", "agent.deleted"} <= set(actions)


async def test_versions_are_immutable_and_numbered(client: httpx.AsyncClient, app: Any) -> None:
    t = await create_tenant(client)
    space = await personal_space_id(client, t)
    agent = await create_agent(client, t.headers, space, agent_definition("versioned"))
    v2_def = agent_definition("versioned", description="second")
    v2 = await client.post(
        f"{API}/{agent['id']}/versions", json={"definition": v2_def}, headers=t.headers
    )
    assert v2.status_code == 201, v2.text
    assert v2.json()["version"] == 2 and v2.json()["definition"]["description"] == "second"
    now = (await client.get(f"{API}/{agent['id']}", headers=t.headers)).json()
    assert now["current_version"] == 2

    v1 = (await client.get(f"{API}/{agent['id']}/versions/1", headers=t.headers)).json()
    assert "description" not in v1["definition"]
    versions = (await client.get(f"{API}/{agent['id']}/versions", headers=t.headers)).json()
    assert [v["version"] for v in versions["items"]] == [2, 1]
    for method in ("PUT", "PATCH", "DELETE"):
        resp = await client.request(
            method, f"{API}/{agent['id']}/versions/1", json={}, headers=t.headers
        )
        assert resp.status_code == 405
    missing = await client.get(f"{API}/{agent['id']}/versions/9", headers=t.headers)
    assert missing.status_code == 404
    renamed = await client.post(
        f"{API}/{agent['id']}/versions",
        json={"definition": agent_definition("other-name")},
        headers=t.headers,
    )
    assert renamed.status_code == 422 and renamed.json()["field"] == "name"
    assert "agent.version_created" in await _actions(app, t.org_id)


async def test_a_save_from_an_older_version_is_refused(client: httpx.AsyncClient) -> None:
    t = await create_tenant(client)
    space = await personal_space_id(client, t)
    agent = await create_agent(client, t.headers, space, agent_definition("edited"))
    url = f"{API}/{agent['id']}/versions"

    def save(description: str, base: int) -> dict[str, Any]:
        return {
            "definition": agent_definition("edited", description=description),
            "base_version": base,
        }

    first = await client.post(url, json=save("mine", 1), headers=t.headers)
    assert first.status_code == 201 and first.json()["version"] == 2
    stale = await client.post(url, json=save("theirs", 1), headers=t.headers)
    assert stale.status_code == 409, stale.text
    assert stale.json()["field"] == "base_version" and stale.json()["current_version"] == 2
    assert (await client.get(url, headers=t.headers)).json()["items"][0]["version"] == 2
    merged = await client.post(url, json=save("merged", 2), headers=t.headers)
    assert merged.status_code == 201 and merged.json()["version"] == 3

    other = await create_tenant(client)
    hidden = await client.post(url, json=save("x", 3), headers=other.headers)
    assert hidden.status_code == 404


async def test_import_export_round_trip(client: httpx.AsyncClient) -> None:
    t = await create_tenant(client)
    space = await personal_space_id(client, t)
    source = HITL_YAML.format(name="hitl")
    imported = await import_agent(client, t.headers, space, source)
    assert imported["name"] == "hitl" and imported["current_version"] == 1
    exported = await client.get(f"{API}/{imported['id']}/export", headers=t.headers)
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("application/yaml")
    assert exported.text == source
    # A JSON-created agent exports YAML that imports again.
    other = await create_agent(client, t.headers, space, agent_definition("json-made"))
    text = (await client.get(f"{API}/{other['id']}/export", headers=t.headers)).text
    data = yaml.safe_load(text)
    assert data["name"] == "json-made"
    again = await import_agent(client, t.headers, await _shared(client, t), text)
    assert again["name"] == "json-made"


async def _shared(client: httpx.AsyncClient, t: Any) -> str:
    return str((await create_space(client, t))["id"])


async def test_schema_is_published(client: httpx.AsyncClient) -> None:
    t = await create_tenant(client)
    resp = await client.get(f"{API}/schema", headers=t.headers)
    assert resp.status_code == 200
    schema = resp.json()
    assert "nodes" in schema["properties"] and "$defs" in schema


def _nodes(*nodes: dict[str, Any]) -> dict[str, Any]:
    return {"name": "broken", "nodes": list(nodes)}


_T = {"type": "transform", "value": 1}
INVALID = [
    pytest.param(
        _nodes({"id": "a", **_T}, {"id": "b", "type": "teleport"}),
        "nodes[1].type",
        "b",
        id="unknown-node-type",
    ),
    pytest.param(
        _nodes({"id": "a", **_T}, {"id": "b", **_T}, {"id": "c", "needs": ["ghost"], **_T}),
        "nodes[2].needs",
        "c",
        id="missing-needs-target",
    ),
    pytest.param(
        _nodes({"id": "a", "needs": ["b"], **_T}, {"id": "b", "needs": ["a"], **_T}),
        "nodes[1].needs",
        "b",
        id="cycle",
    ),
    pytest.param(
        _nodes({"id": "a", "type": "transform", "value": "{{ steps.nowhere.output }}"}),
        "nodes[0].value",
        "a",
        id="unknown-step-in-template",
    ),
    pytest.param(
        _nodes({"id": "a", "type": "llm", "model": "no-such-alias", "prompt": "hi"}),
        "nodes[0].model",
        "a",
        id="unknown-model-alias",
    ),
]


@pytest.mark.parametrize(("definition", "field", "node"), INVALID)
async def test_validation_errors_name_node_and_field(
    client: httpx.AsyncClient, definition: dict[str, Any], field: str, node: str
) -> None:
    t = await create_tenant(client)
    space = await personal_space_id(client, t)
    resp = await client.post(
        API, json={"space_id": space, "definition": definition}, headers=t.headers
    )
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    body = resp.json()
    assert body["field"] == field, body
    assert any(e["field"] == field and e.get("node") == node for e in body["errors"]), body
    # The same problem through YAML import.
    yaml_resp = await client.post(
        f"{API}/import",
        params={"space_id": space},
        content=yaml.safe_dump(definition).encode(),
        headers={**t.headers, "Content-Type": "application/yaml"},
    )
    assert yaml_resp.status_code == 422 and yaml_resp.json()["field"] == field


async def test_bad_yaml_and_both_inputs_are_422(client: httpx.AsyncClient) -> None:
    t = await create_tenant(client)
    space = await personal_space_id(client, t)
    bad = await client.post(
        f"{API}/import",
        params={"space_id": space},
        content=b"name: [unclosed",
        headers={**t.headers, "Content-Type": "application/yaml"},
    )
    assert bad.status_code == 422
    both = await client.post(
        API,
        json={"space_id": space, "definition": agent_definition(), "source": "name: x"},
        headers=t.headers,
    )
    assert both.status_code == 422


async def test_known_agents_and_aliases_come_from_space_and_org(client: httpx.AsyncClient) -> None:
    t = await create_tenant(client)
    space = await personal_space_id(client, t)
    child = await create_agent(client, t.headers, space, agent_definition("child"))
    parent = agent_definition(
        "parent", nodes=[{"id": "call", "type": "subagent", "agent": child["name"]}]
    )
    assert (
        await client.post(API, json={"space_id": space, "definition": parent}, headers=t.headers)
    ).status_code == 201
    elsewhere = await _shared(client, t)
    resp = await client.post(
        API, json={"space_id": elsewhere, "definition": parent}, headers=t.headers
    )
    assert resp.status_code == 422 and resp.json()["field"] == "nodes[0].agent"
    default_model = agent_definition(
        "uses-default", nodes=[{"id": "a", "type": "llm", "prompt": "hi"}]
    )
    ok = await client.post(
        API, json={"space_id": space, "definition": default_model}, headers=t.headers
    )
    assert ok.status_code == 201, ok.text


async def test_roles_viewer_reads_editor_changes_owner_deletes(
    client: httpx.AsyncClient,
) -> None:
    owner = await create_tenant(client)
    space = await _shared(client, owner)
    viewer = await join_by_invitation(client, owner)
    editor = await join_by_invitation(client, owner)
    await add_space_member(client, owner, space, viewer.user_id, "viewer")
    await add_space_member(client, owner, space, editor.user_id, "editor")

    refused = await client.post(
        API, json={"space_id": space, "definition": agent_definition()}, headers=viewer.headers
    )
    assert refused.status_code == 403
    agent = await create_agent(client, editor.headers, space)
    assert (await client.get(f"{API}/{agent['id']}", headers=viewer.headers)).status_code == 200
    listed = await client.get(API, headers=viewer.headers)
    assert agent["id"] in [a["id"] for a in listed.json()["items"]]
    for who, status in ((viewer, 403), (editor, 200)):
        resp = await client.patch(
            f"{API}/{agent['id']}", json={"description": "x"}, headers=who.headers
        )
        assert resp.status_code == status
    for who, status in ((viewer, 403), (editor, 403), (owner, 204)):
        resp = await client.delete(f"{API}/{agent['id']}", headers=who.headers)
        assert resp.status_code == status


async def test_api_keys_need_write(client: httpx.AsyncClient) -> None:
    t = await create_tenant(client)
    space = await personal_space_id(client, t)
    reader = key_headers((await create_api_key(client, t, scopes=["read"]))["key"])
    writer = key_headers((await create_api_key(client, t, scopes=["write"]))["key"])
    body = {"space_id": space, "definition": agent_definition()}
    assert (await client.post(API, json=body, headers=reader)).status_code == 403
    created = await client.post(API, json=body, headers=writer)
    assert created.status_code == 201
    assert (await client.get(f"{API}/{created.json()['id']}", headers=reader)).status_code == 200


async def test_other_tenant_gets_404(client: httpx.AsyncClient) -> None:
    a, b = await create_tenant(client), await create_tenant(client)
    space = await personal_space_id(client, a)
    agent = await create_agent(client, a.headers, space)
    for method, path, body in (
        ("GET", f"{API}/{agent['id']}", None),
        ("GET", f"{API}/{agent['id']}/versions", None),
        ("GET", f"{API}/{agent['id']}/versions/1", None),
        ("GET", f"{API}/{agent['id']}/export", None),
        ("PATCH", f"{API}/{agent['id']}", {"description": "x"}),
        ("DELETE", f"{API}/{agent['id']}", None),
        ("POST", f"{API}/{agent['id']}/versions", {"definition": agent_definition()}),
        ("POST", API, {"space_id": space, "definition": agent_definition()}),
    ):
        resp = await client.request(method, path, json=body, headers=b.headers)
        assert resp.status_code == 404, (method, path, resp.text)
    listed = await client.get(API, headers=b.headers)
    assert agent["id"] not in listed.text
    assert (await client.get(API, params={"space_id": space}, headers=b.headers)).status_code == 404
