"""Sub-agent runs are created by the run service like any run: the child's inputs must fit
its agent's schema, the child is linked to its parent, and other tenants see neither."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from agentdeck.errors import NotFound
from agentdeck.run import service
from tests.factories import create_agent
from tests.run.conftest import Org, make_org

CHILD = {
    "name": "child",
    "inputs": {"type": "object", "required": ["topic"],
               "properties": {"topic": {"type": "string"}}},
    "nodes": [{"id": "say", "type": "transform", "value": "about {{ inputs.topic }}"}],
    "output": "{{ steps.say.output }}",
}  # fmt: skip


def _parent(inputs: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "parent",
        "nodes": [{"id": "ask", "type": "subagent", "agent": "child", "inputs": inputs}],
        "output": "{{ steps.ask.output }}",
    }


async def test_a_childs_inputs_are_checked_against_its_schema(
    client: Any, app: Any, runtime: Any, worker: Any
) -> None:
    org: Org = await make_org(client, app)

    async def agent(spec: dict[str, Any]) -> uuid.UUID:
        return uuid.UUID((await create_agent(client, org.tenant.headers, org.space, spec))["id"])

    await agent(CHILD)
    good = await org.start(await agent(_parent({"topic": "tides"})))
    done = await service.wait_for_run(runtime, good.id, timeout_s=30)
    assert done.status == "completed", done.error
    assert done.output == "about tides"
    async with runtime.sessionmaker() as session:
        [child] = [
            r
            for r in (await service.list_runs(session, org.principal, limit=50)).items
            if r.parent_run_id == good.id
        ]
    assert child.status == "completed"
    url, params = "/api/v1/runs", {"parent_run_id": str(good.id)}
    listed = await client.get(url, params=params, headers=org.tenant.headers)
    assert [r["id"] for r in listed.json()["items"]] == [str(child.id)]
    other: Org = await make_org(client, app)
    hidden = await client.get(url, params=params, headers=other.tenant.headers)
    assert hidden.status_code == 200 and hidden.json()["items"] == []
    async with runtime.sessionmaker() as session:
        with pytest.raises(NotFound):
            await service.get_run(session, other.principal, child.id)

    bad_spec = _parent({"subject": "tides"})
    bad_spec["name"] = "parent-bad"
    bad = await org.start(await agent(bad_spec))
    failed = await service.wait_for_run(runtime, bad.id, timeout_s=30)
    assert failed.status == "failed"
    assert "child" in failed.error["message"] and "topic" in failed.error["message"]
