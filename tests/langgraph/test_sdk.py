"""The official `langgraph-sdk` client against agentdeck served over real HTTP.

An imported YAML agent (transform -> human -> transform) is streamed on a thread, stops at
the human node, is resumed with `command={"resume": ...}`, and its final state is read.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from tests.factories import (
    HITL_YAML,
    create_api_key,
    create_tenant,
    import_agent,
    personal_space_id,
)


@pytest.fixture
async def http(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as c:
        yield c


@pytest.fixture
async def sdk(http: httpx.AsyncClient, base_url: str) -> AsyncIterator[tuple[LangGraphClient, str]]:
    """A client with a `write` API key of a new tenant, and that tenant's imported agent."""
    tenant = await create_tenant(http)
    space = await personal_space_id(http, tenant)
    agent = await import_agent(http, tenant.headers, space, HITL_YAML.format(name="review-flow"))
    key = (await create_api_key(http, tenant, scopes=["write"]))["key"]
    client = get_client(url=f"{base_url}/api/v1", api_key=key)
    try:
        yield client, agent["name"]
    finally:
        await client.aclose()


def _events(parts: list[Any], name: str) -> list[Any]:
    return [p.data for p in parts if p.event == name]


async def test_stream_interrupt_resume_and_state(sdk: tuple[LangGraphClient, str]) -> None:
    client, graph = sdk
    (assistant,) = await client.assistants.search(graph_id=graph)
    assert assistant["graph_id"] == graph
    thread = await client.threads.create(metadata={"case": "sdk"})
    tid = thread["thread_id"]

    created: list[Any] = []
    parts = [
        part
        async for part in client.runs.stream(
            tid,
            graph,
            input={"ticket": "printer on fire"},
            stream_mode=["values", "updates"],
            on_run_created=created.append,
        )
    ]
    assert parts[0].event == "metadata" and parts[-1].event == "end"
    run_id = parts[0].data["run_id"]
    assert created and created[0]["run_id"] == run_id and created[0]["thread_id"] == tid
    updates = _events(parts, "updates")
    assert {"draft": {"text": "printer on fire"}} in updates
    (interrupt,) = updates[-1]["__interrupt__"]
    assert interrupt["value"]["node"] == "review"
    assert interrupt["value"]["message"] == "Approve printer on fire?"
    assert "__interrupt__" in _events(parts, "values")[-1]

    state = await client.threads.get_state(tid)
    assert state["next"] == ["review"]
    assert state["tasks"][0]["name"] == "review"
    assert state["interrupts"][0]["id"] == interrupt["id"]
    assert state["values"]["steps"]["draft"] == {"text": "printer on fire"}
    assert (await client.threads.get(tid))["status"] == "interrupted"
    first = await client.runs.get(tid, run_id)
    assert first["status"] == "interrupted"

    resumed = [
        part
        async for part in client.runs.stream(
            tid, graph, command={"resume": {"approved": True}}, stream_mode="updates"
        )
    ]
    assert resumed[-1].event == "end"
    steps = {k for update in _events(resumed, "updates") for k in update}
    assert {"review", "final"} <= steps

    final = await client.threads.get_state(tid)
    assert final["next"] == [] and final["interrupts"] == []
    assert final["values"]["steps"]["review"] == {"approved": True}
    assert final["values"]["steps"]["final"]["text"] == "printer on fire"
    assert final["values"]["output"] == final["values"]["steps"]["final"]
    assert (await client.threads.get(tid))["status"] == "idle"
    history = await client.threads.get_history(tid, limit=20)
    assert history[0]["values"] == final["values"]
    assert history[0]["checkpoint"]["checkpoint_id"] == final["checkpoint"]["checkpoint_id"]
    # newest first: the resumed run (input, review answered, final), then the first run
    # (input, draft, review interrupted); each checkpoint's parent is the one before it
    writes = [sorted(h["metadata"]["writes"] or {}) for h in history]
    assert writes == [["final"], ["review"], [], [], ["draft"], []]
    assert [h["metadata"]["source"] for h in history] == [
        "loop", "loop", "input", "loop", "loop", "input"
    ]  # fmt: skip
    assert history[3]["next"] == ["review"] and history[3]["values"]["output"] is None
    for newer, older in itertools.pairwise(history):
        assert newer["parent_checkpoint"]["checkpoint_id"] == older["checkpoint"]["checkpoint_id"]
    assert history[-1]["parent_checkpoint"] is None
    page = await client.threads.get_history(tid, limit=2, before=history[1]["checkpoint"])
    ids = [h["checkpoint"]["checkpoint_id"] for h in history]
    assert [h["checkpoint"]["checkpoint_id"] for h in page] == ids[2:4]
    at = await client.threads.get_state(tid, checkpoint=history[4]["checkpoint"])
    assert at["values"]["steps"] == {"draft": {"text": "printer on fire"}}
    assert at["next"] == ["review"]
    with pytest.raises(httpx.HTTPStatusError) as missing:
        await client.threads.get_state(tid, checkpoint={"checkpoint_id": "nope"})
    assert missing.value.response.status_code == 404
    runs = await client.runs.list(tid)
    assert [r["status"] for r in runs] == ["success", "interrupted"]
    joined = await client.runs.join(tid, runs[0]["run_id"])
    assert joined["output"] == final["values"]["output"]
    replay = [p async for p in client.runs.join_stream(tid, runs[0]["run_id"])]
    assert replay[0].event == "metadata" and replay[-1].event == "end"


async def test_wait_background_and_stateless(sdk: tuple[LangGraphClient, str]) -> None:
    client, graph = sdk
    thread = await client.threads.create()
    tid = thread["thread_id"]
    waited = await client.runs.wait(tid, graph, input={"ticket": "a"})
    assert isinstance(waited, dict) and waited["__interrupt__"][0]["value"]["node"] == "review"
    done = await client.runs.wait(tid, graph, command={"resume": {"approved": False}})
    assert done["output"]["text"] == "a"

    background = await client.runs.create(tid, graph, input={"ticket": "b"})
    assert background["status"] in ("pending", "running")
    joined = await client.runs.join(tid, background["run_id"])
    assert "__interrupt__" in joined

    stateless = await client.runs.wait(None, graph, input={"ticket": "c"})
    assert stateless["steps"]["draft"] == {"text": "c"}
    parts = [p async for p in client.runs.stream(None, graph, input={"ticket": "d"})]
    assert parts[0].event == "metadata" and parts[-1].event == "end"
    assert _events(parts, "values")[-1]["steps"]["draft"] == {"text": "d"}


async def test_errors_reach_the_client(sdk: tuple[LangGraphClient, str]) -> None:
    client, graph = sdk
    with pytest.raises(httpx.HTTPStatusError) as missing:
        await client.threads.get("0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e99")
    assert missing.value.response.status_code == 404
    thread = await client.threads.create()
    with pytest.raises(httpx.HTTPStatusError) as nothing:
        await client.runs.wait(thread["thread_id"], graph, command={"resume": 1})
    assert nothing.value.response.status_code == 409
    with pytest.raises(httpx.HTTPStatusError) as unknown:
        await client.runs.wait(thread["thread_id"], "no-such-graph", input={})
    assert unknown.value.response.status_code == 404
