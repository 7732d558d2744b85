"""/api/v1/runs over HTTP: read, steps, cancel, SSE with Last-Event-ID; other orgs get 404."""

from __future__ import annotations

import json
from typing import Any

import httpx

from agentdeck.run import service
from agentdeck.runtime import Runtime
from tests.run.conftest import Org, make_org

SPEC = {
    "name": "pair",
    "nodes": [
        {"id": "a", "type": "transform", "value": 1},
        {"id": "b", "type": "transform", "value": "{{ steps.a.output + 1 }}", "needs": ["a"]},
    ],
}


def _sse(text: str) -> list[dict[str, Any]]:
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields: dict[str, Any] = {}
        for line in block.splitlines():
            if line.startswith(":") or ":" not in line:
                continue
            name, _, value = line.partition(":")
            fields[name] = value.strip()
        if "event" in fields:
            fields["data"] = json.loads(fields["data"])
            events.append(fields)
    return events


async def test_read_steps_events_and_cross_tenant(
    client: httpx.AsyncClient, app: Any, runtime: Runtime, org: Org, worker: Any
) -> None:
    agent = await org.agent(SPEC)
    run = await org.start(agent)
    await service.wait_for_run(runtime, run.id, timeout_s=10)
    h = org.tenant.headers
    got = await client.get(f"/api/v1/runs/{run.id}", headers=h)
    assert got.status_code == 200, got.text
    assert got.json()["status"] == "completed" and got.json()["output"] == 2
    listed = await client.get("/api/v1/runs", params={"agent_id": str(agent)}, headers=h)
    assert [r["id"] for r in listed.json()["items"]] == [str(run.id)]
    steps = (await client.get(f"/api/v1/runs/{run.id}/steps", headers=h)).json()["items"]
    assert [(s["node_id"], s["status"], s["output"]) for s in steps] == [
        ("a", "completed", 1), ("b", "completed", 2),
    ]  # fmt: skip
    assert steps[0]["duration_ms"] is not None and steps[0]["index"] is None
    stream = await client.get(f"/api/v1/runs/{run.id}/events", headers=h)
    assert stream.status_code == 200
    events = _sse(stream.text)
    assert events[0]["event"] == "run.started" and events[-1]["event"] == "run.completed"
    assert [int(e["id"]) for e in events] == list(range(1, len(events) + 1))
    again = await client.get(f"/api/v1/runs/{run.id}/events", headers={**h, "Last-Event-ID": "3"})
    assert [int(e["id"]) for e in _sse(again.text)] == list(range(4, len(events) + 1))

    other = await make_org(client, app)
    for path in ("", "/steps", "/events"):
        resp = await client.get(f"/api/v1/runs/{run.id}{path}", headers=other.tenant.headers)
        assert resp.status_code == 404, path
    resp = await client.post(f"/api/v1/runs/{run.id}/cancel", headers=other.tenant.headers)
    assert resp.status_code == 404
    assert (await client.get("/api/v1/runs", headers=other.tenant.headers)).json()["items"] == []


async def test_cancel_pending_run_over_http(client: httpx.AsyncClient, org: Org) -> None:
    agent = await org.agent(SPEC)
    run = await org.start(agent)  # no worker: it stays pending
    resp = await client.post(f"/api/v1/runs/{run.id}/cancel", headers=org.tenant.headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "cancelled"
    events = _sse(
        (await client.get(f"/api/v1/runs/{run.id}/events", headers=org.tenant.headers)).text
    )
    assert [e["event"] for e in events] == ["run.cancelled"]
