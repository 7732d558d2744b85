"""Sub-agents on Temporal: a `subagent` node is a child workflow whose run is a normal run row
linked to its parent, journaled like any run; the parent's events name it."""

from __future__ import annotations

from typing import Any

import httpx
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from tests.engine.conftest import LocalServer
from tests.factories import create_tenant
from tests.temporal.conftest import API, Org


async def _history_types(address: str, run_id: str) -> list[tuple[str, str]]:
    """(event type, activity type or child workflow id) of the run's workflow history."""
    client = await Client.connect(address, data_converter=pydantic_data_converter)
    history = await client.get_workflow_handle(run_id).fetch_history()
    out = []
    for event in history.events:
        kind = event.WhichOneof("attributes") or ""
        attrs = getattr(event, kind)
        name = ""
        if kind == "activity_task_scheduled_event_attributes":
            name = attrs.activity_type.name
        elif kind == "start_child_workflow_execution_initiated_event_attributes":
            name = attrs.workflow_id
        out.append((kind, name))
    return out


def _links(events: list[dict[str, Any]], type_: str) -> list[dict[str, Any]]:
    return [e["data"] for e in events if e["type"] == type_]


async def test_a_subagent_node_is_a_child_workflow_with_a_linked_run(
    org: Org, temporal_address: str, local_server: LocalServer
) -> None:
    await org.agent({"name": "sa-child", "nodes": [
        {"id": "call", "type": "http", "method": "POST", "url": f"{local_server.url}/child"},
        {"id": "answer", "type": "transform", "needs": ["call"],
         "value": "child says {{ inputs.q }}"},
    ]})  # fmt: skip
    parent = await org.agent({"name": "sa-parent", "nodes": [
        {"id": "ask", "type": "subagent", "agent": "sa-child", "inputs": {"q": "{{ inputs.x }}"}},
        {"id": "out", "type": "transform", "needs": ["ask"], "value": "{{ steps.ask.output }}!"},
    ]})  # fmt: skip
    run = await org.run(parent, {"x": "hi"})
    assert run["status"] == "completed", run
    assert run["output"] == "child says hi!"

    # the parent's events name the child run, which is a normal run linked to the parent
    events = await org.events(run["id"])
    (started,) = _links(events, "subagent.started")
    (ended,) = _links(events, "subagent.ended")
    child_id = started["run_id"]
    assert ended == {"node": "ask", "index": None, "agent": "sa-child", "run_id": child_id,
                     "status": "completed"}  # fmt: skip
    assert started["idempotency_key"] == f"{run['id']}:ask"
    h = org.tenant.headers
    child = (await org.http.get(f"{API}/runs/{child_id}", headers=h)).json()
    assert child["parent_run_id"] == run["id"] and child["status"] == "completed"
    assert child["inputs"] == {"q": "hi"} and child["output"] == "child says hi"
    child_steps = await org.steps(child_id)
    assert [(s["node_id"], s["status"]) for s in child_steps] == [
        ("call", "completed"), ("answer", "completed"),
    ]  # fmt: skip
    assert local_server.log.count("/child") == 1
    child_types = [e["type"] for e in await org.events(child_id)]
    assert child_types[0] == "run.started" and child_types[-1] == "run.completed"
    parent_steps = {s["node_id"]: s for s in await org.steps(run["id"])}
    assert parent_steps["ask"]["output"] == "child says hi" and parent_steps["ask"]["attempt"] == 1

    # on Temporal: a child workflow of the parent's, not an activity
    history = await _history_types(temporal_address, run["id"])
    assert ("start_child_workflow_execution_initiated_event_attributes", child_id) in history
    assert not [n for k, n in history if n == "agentdeck.node.subagent"]
    client = await Client.connect(temporal_address)
    description = await client.get_workflow_handle(child_id).describe()
    assert description.parent_id == run["id"]


async def test_a_failed_child_fails_the_step_and_on_error_applies(org: Org) -> None:
    await org.agent({"name": "sa-broken", "nodes": [
        {"id": "bad", "type": "transform", "value": "{{ inputs.nope.deeper }}"},
    ]})  # fmt: skip
    parent = await org.agent({"name": "sa-careful", "nodes": [
        {"id": "ask", "type": "subagent", "agent": "sa-broken", "on_error": "continue",
         "default": {"d": 1}},
        {"id": "out", "type": "transform", "needs": ["ask"], "value": "{{ steps.ask.output }}"},
    ]})  # fmt: skip
    run = await org.run(parent)
    assert run["status"] == "completed", run
    assert run["output"] == {"d": 1}
    (ask,) = [s for s in await org.steps(run["id"]) if s["node_id"] == "ask"]
    assert ask["status"] == "failed" and ask["error"]["kind"] == "subagent"
    child_id = ask["error"]["detail"]["child_run_id"]
    child = (await org.http.get(f"{API}/runs/{child_id}", headers=org.tenant.headers)).json()
    assert child["status"] == "failed" and child["parent_run_id"] == run["id"]
    ended = _links(await org.events(run["id"]), "subagent.ended")
    assert ended == [{"node": "ask", "index": None, "agent": "sa-broken", "run_id": child_id,
                      "status": "failed"}]  # fmt: skip


async def test_another_tenant_gets_404_for_the_child_run(org: Org, http: httpx.AsyncClient) -> None:
    await org.agent({"name": "sa-leaf", "nodes": [{"id": "v", "type": "transform", "value": 7}]})
    parent = await org.agent({"name": "sa-root", "nodes": [
        {"id": "ask", "type": "subagent", "agent": "sa-leaf"},
    ]})  # fmt: skip
    run = await org.run(parent)
    assert run["status"] == "completed" and run["output"] == 7, run
    (started,) = _links(await org.events(run["id"]), "subagent.started")
    other = await create_tenant(http)
    for path in ("", "/steps", "/events"):
        for run_id in (started["run_id"], run["id"]):
            resp = await http.get(f"{API}/runs/{run_id}{path}", headers=other.headers)
            assert resp.status_code == 404, (path, resp.text)
