"""The LangGraph-shaped threads API over plain HTTP, without executing runs
(the SDK suite in tests/langgraph runs agents end to end)."""

from __future__ import annotations

import httpx

from tests.factories import (
    HITL_YAML,
    add_space_member,
    create_api_key,
    create_space,
    create_tenant,
    import_agent,
    join_by_invitation,
    key_headers,
    personal_space_id,
)

API = "/api/v1/threads"


async def test_crud_search_and_empty_state(client: httpx.AsyncClient) -> None:
    t = await create_tenant(client)
    created = await client.post(API, json={"metadata": {"topic": "billing"}}, headers=t.headers)
    assert created.status_code == 200, created.text
    thread = created.json()
    tid = thread["thread_id"]
    assert thread["status"] == "idle" and thread["interrupts"] == {}
    got = await client.get(f"{API}/{tid}", headers=t.headers)
    assert got.json()["metadata"] == {"topic": "billing"}
    patched = await client.patch(f"{API}/{tid}", json={"metadata": {"x": 1}}, headers=t.headers)
    assert patched.json()["metadata"] == {"topic": "billing", "x": 1}
    other = (await client.post(API, json={}, headers=t.headers)).json()
    found = await client.post(
        f"{API}/search", json={"metadata": {"topic": "billing"}}, headers=t.headers
    )
    assert [x["thread_id"] for x in found.json()] == [tid]
    by_ids = await client.post(
        f"{API}/search", json={"ids": [other["thread_id"]], "status": "idle"}, headers=t.headers
    )
    assert [x["thread_id"] for x in by_ids.json()] == [other["thread_id"]]
    state = (await client.get(f"{API}/{tid}/state", headers=t.headers)).json()
    assert state["values"] == {} and state["next"] == [] and state["tasks"] == []
    assert state["checkpoint"]["thread_id"] == tid
    history = await client.post(f"{API}/{tid}/history", json={"limit": 5}, headers=t.headers)
    assert history.status_code == 200 and history.json() == []
    again = await client.post(
        API, json={"thread_id": tid, "if_exists": "do_nothing"}, headers=t.headers
    )
    assert again.json()["thread_id"] == tid
    clash = await client.post(API, json={"thread_id": tid}, headers=t.headers)
    assert clash.status_code == 409
    assert (await client.delete(f"{API}/{tid}", headers=t.headers)).status_code == 204
    assert (await client.get(f"{API}/{tid}", headers=t.headers)).status_code == 404
    assert (await client.get(f"{API}/not-a-uuid", headers=t.headers)).status_code == 422


async def test_space_choice(client: httpx.AsyncClient, app: object) -> None:
    t = await create_tenant(client)
    shared = (await create_space(client, t))["id"]
    in_shared = await client.post(API, json={"metadata": {"space_id": shared}}, headers=t.headers)
    assert in_shared.status_code == 200
    key = await create_api_key(client, t, scopes=["run"], space_ids=[shared])
    by_key = await client.post(API, json={}, headers=key_headers(key["key"]))
    assert by_key.status_code == 200
    listed = await client.post(f"{API}/search", json={}, headers=key_headers(key["key"]))
    assert {x["thread_id"] for x in listed.json()} == {
        in_shared.json()["thread_id"],
        by_key.json()["thread_id"],
    }
    personal = await client.post(API, json={}, headers=t.headers)
    hidden = await client.get(
        f"{API}/{personal.json()['thread_id']}", headers=key_headers(key["key"])
    )
    assert hidden.status_code == 404
    nowhere = await client.post(
        API,
        json={"metadata": {"space_id": "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e10"}},
        headers=t.headers,
    )
    assert nowhere.status_code == 404


async def test_roles_and_key_scopes(client: httpx.AsyncClient) -> None:
    owner = await create_tenant(client)
    space = (await create_space(client, owner))["id"]
    viewer = await join_by_invitation(client, owner)
    await add_space_member(client, owner, space, viewer.user_id, "viewer")
    thread = (
        await client.post(API, json={"metadata": {"space_id": space}}, headers=owner.headers)
    ).json()
    assert (
        await client.get(f"{API}/{thread['thread_id']}", headers=viewer.headers)
    ).status_code == 200
    refused = await client.post(API, json={"metadata": {"space_id": space}}, headers=viewer.headers)
    assert refused.status_code == 403
    reader = key_headers((await create_api_key(client, owner, scopes=["read"]))["key"])
    assert (await client.post(API, json={}, headers=reader)).status_code == 403


async def test_runs_without_a_worker_stay_pending_and_cancel(client: httpx.AsyncClient) -> None:
    t = await create_tenant(client)
    space = await personal_space_id(client, t)
    await import_agent(client, t.headers, space, HITL_YAML.format(name="pending-one"))
    tid = (await client.post(API, json={}, headers=t.headers)).json()["thread_id"]
    body = {"assistant_id": "pending-one", "input": {"ticket": "t"}, "unknown_option": True}
    run = await client.post(f"{API}/{tid}/runs", json=body, headers=t.headers)
    assert run.status_code == 200, run.text
    rid = run.json()["run_id"]
    assert run.json()["status"] == "pending" and run.json()["thread_id"] == tid
    busy = await client.get(f"{API}/{tid}", headers=t.headers)
    assert busy.json()["status"] == "busy"
    second = await client.post(f"{API}/{tid}/runs", json=body, headers=t.headers)
    assert second.status_code == 409
    cancelled = await client.post(f"{API}/{tid}/runs/{rid}/cancel", headers=t.headers)
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "interrupted"
    assert cancelled.json()["cancel_reason"] == "cancelled"
    listed = await client.get(f"{API}/{tid}/runs", headers=t.headers)
    assert [r["run_id"] for r in listed.json()] == [rid]
    joined = await client.get(f"{API}/{tid}/runs/{rid}/join", headers=t.headers)
    assert joined.status_code == 200 and joined.json()["inputs"] == {"ticket": "t"}
    stream = await client.get(f"{API}/{tid}/runs/{rid}/stream", headers=t.headers)
    assert stream.headers["content-type"].startswith("text/event-stream")
    assert stream.text.startswith("event: metadata") and "event: end" in stream.text
    bad_input = await client.post(
        f"{API}/{tid}/runs",
        json={"assistant_id": "pending-one", "input": {"ticket": 1}},
        headers=t.headers,
    )
    assert bad_input.status_code == 422
    missing = await client.post(
        f"{API}/{tid}/runs", json={"assistant_id": "nobody"}, headers=t.headers
    )
    assert missing.status_code == 404


async def test_other_tenant_gets_404(client: httpx.AsyncClient) -> None:
    a, b = await create_tenant(client), await create_tenant(client)
    tid = (await client.post(API, json={}, headers=a.headers)).json()["thread_id"]
    for method, path, body in (
        ("GET", f"{API}/{tid}", None),
        ("GET", f"{API}/{tid}/state", None),
        ("POST", f"{API}/{tid}/history", {}),
        ("POST", f"{API}/{tid}/state/checkpoint", {"checkpoint": {"checkpoint_id": "x"}}),
        ("PATCH", f"{API}/{tid}", {"metadata": {"x": 1}}),
        ("DELETE", f"{API}/{tid}", None),
        ("GET", f"{API}/{tid}/runs", None),
        ("POST", f"{API}/{tid}/runs", {"assistant_id": "x"}),
        ("POST", f"{API}/{tid}/runs/stream", {"assistant_id": "x"}),
        ("POST", f"{API}/{tid}/runs/wait", {"assistant_id": "x"}),
    ):
        resp = await client.request(method, path, json=body, headers=b.headers)
        assert resp.status_code == 404, (method, path, resp.text)
    found = await client.post(f"{API}/search", json={"ids": [tid]}, headers=b.headers)
    assert found.json() == []
    foreign = await client.post(
        API, json={"metadata": {"space_id": await personal_space_id(client, a)}}, headers=b.headers
    )
    assert foreign.status_code == 404
