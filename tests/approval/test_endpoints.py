"""GET /api/v1/approvals and its live feed, through HTTP, with the runs executed by another
process: the first snapshot, an entry appearing when a run is interrupted and going when it
is answered, another organisation and a space-limited key seeing nothing they may not, and
the final event at shut-down."""

from __future__ import annotations

import itertools
from typing import Any

import httpx

from agentdeck.run.services import services_for
from tests.approval.conftest import ASKER, Api, feed
from tests.factories import (
    Tenant,
    create_api_key,
    create_space,
    create_tenant,
    import_agent,
    key_headers,
    personal_space_id,
)

_names = itertools.count(1)


async def _agent(http: httpx.AsyncClient, tenant: Tenant, space_id: str) -> dict[str, Any]:
    source = ASKER.format(name=f"asker{next(_names)}")
    return {**await import_agent(http, tenant.headers, space_id, source), "space_id": space_id}


async def _start(
    http: httpx.AsyncClient, tenant: Tenant, agent: dict[str, Any], **body: Any
) -> tuple[str, str]:
    """(thread id, run id) of a run of ``agent`` on a new thread of the agent's space."""
    meta = {"metadata": {"space_id": agent["space_id"]}}
    thread = await http.post("/api/v1/threads", json=meta, headers=tenant.headers)
    assert thread.status_code == 200, thread.text
    return await _run_on(http, tenant, thread.json()["thread_id"], agent, **body)


async def _run_on(
    http: httpx.AsyncClient, tenant: Tenant, thread_id: str, agent: dict[str, Any], **body: Any
) -> tuple[str, str]:
    resp = await http.post(
        f"/api/v1/threads/{thread_id}/runs",
        json={"assistant_id": agent["id"], **body},
        headers=tenant.headers,
    )
    assert resp.status_code == 200, resp.text
    return thread_id, resp.json()["run_id"]


async def test_snapshot_added_when_interrupted_removed_when_answered(
    http: httpx.AsyncClient, worker: None
) -> None:
    tenant = await create_tenant(http)
    agent = await _agent(http, tenant, await personal_space_id(http, tenant))
    async with feed(http, tenant.headers) as live:
        assert await live.next() == ("snapshot", {"items": []})
        thread_id, run_id = await _start(http, tenant, agent)
        kind, entry = await live.next()
        assert kind == "added"
        assert entry["id"] == run_id and entry["thread_id"] == thread_id
        assert entry["status"] == "interrupted" and entry["agent_name"] == agent["name"]
        assert entry["interrupt"]["node"] == "review"
        assert entry["interrupt"]["message"] == f"Ship {agent['name']}?"

        listed = await http.get("/api/v1/approvals", headers=tenant.headers)
        assert [e["id"] for e in listed.json()["items"]] == [run_id]
        async with feed(http, tenant.headers) as later:  # a new reader starts from the list
            kind, snapshot = await later.next()
            assert kind == "snapshot" and [e["id"] for e in snapshot["items"]] == [run_id]

        await _run_on(http, tenant, thread_id, agent, command={"resume": {"approved": True}})
        assert await live.next() == ("removed", {"run_id": run_id})
    listed = await http.get("/api/v1/approvals", headers=tenant.headers)
    assert listed.json()["items"] == []


async def test_deleting_a_waiting_thread_removes_its_entry(
    http: httpx.AsyncClient, worker: None
) -> None:
    tenant = await create_tenant(http)
    agent = await _agent(http, tenant, await personal_space_id(http, tenant))
    async with feed(http, tenant.headers) as live:
        assert await live.next() == ("snapshot", {"items": []})
        thread_id, run_id = await _start(http, tenant, agent)
        assert (await live.next())[0] == "added"
        deleted = await http.delete(f"/api/v1/threads/{thread_id}", headers=tenant.headers)
        assert deleted.status_code == 204, deleted.text
        assert await live.next() == ("removed", {"run_id": run_id})


async def test_another_org_sees_nothing_of_the_first(http: httpx.AsyncClient, worker: None) -> None:
    a, b = await create_tenant(http), await create_tenant(http)
    a_agent = await _agent(http, a, await personal_space_id(http, a))
    b_agent = await _agent(http, b, await personal_space_id(http, b))
    async with feed(http, a.headers) as a_live, feed(http, b.headers) as b_live:
        assert (await a_live.next())[0] == "snapshot"
        assert await b_live.next() == ("snapshot", {"items": []})
        _, a_run = await _start(http, a, a_agent)
        assert (await a_live.next())[1]["id"] == a_run
        _, b_run = await _start(http, b, b_agent)
        kind, entry = await b_live.next()  # B's next event is its own run, never A's
        assert kind == "added" and entry["id"] == b_run
    for tenant, mine in ((a, a_run), (b, b_run)):
        listed = await http.get("/api/v1/approvals", headers=tenant.headers)
        assert [e["id"] for e in listed.json()["items"]] == [mine]


async def test_a_key_limited_to_a_space_sees_only_that_space(
    http: httpx.AsyncClient, worker: None
) -> None:
    tenant = await create_tenant(http)
    personal = await _agent(http, tenant, await personal_space_id(http, tenant))
    shared_space = (await create_space(http, tenant))["id"]
    shared = await _agent(http, tenant, shared_space)
    key = await create_api_key(http, tenant, scopes=["read"], space_ids=[shared_space])
    limited = key_headers(key["key"])
    async with feed(http, tenant.headers) as everything, feed(http, limited) as only_shared:
        assert (await everything.next())[0] == "snapshot"
        assert await only_shared.next() == ("snapshot", {"items": []})
        _, hidden = await _start(http, tenant, personal)
        assert (await everything.next())[1]["id"] == hidden
        _, seen = await _start(http, tenant, shared)
        assert (await everything.next())[1]["id"] == seen
        kind, entry = await only_shared.next()  # the personal space's run never shows
        assert kind == "added" and entry["id"] == seen
    listed = await http.get("/api/v1/approvals", headers=limited)
    assert [e["id"] for e in listed.json()["items"]] == [seen]
    async with feed(http, limited) as again:
        assert [e["id"] for e in (await again.next())[1]["items"]] == [seen]


async def test_shutdown_ends_the_feed_with_a_final_event(http: httpx.AsyncClient, api: Api) -> None:
    tenant = await create_tenant(http)
    async with feed(http, tenant.headers) as live:
        assert (await live.next())[0] == "snapshot"
        services_for(api.app.state.runtime.engine).broker.drain()
        kind, data = await live.next()
        assert kind == "error" and data["type"].endswith("shutting-down")
        assert await live.next() == ("", None)


async def test_the_feed_needs_credentials(http: httpx.AsyncClient) -> None:
    resp = await http.get("/api/v1/approvals/stream")
    assert resp.status_code == 401
