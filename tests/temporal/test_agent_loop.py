"""Agent nodes on Temporal: the loop runs in the workflow, each model turn and each tool call
its own activity, `agent_<name>` tools as child workflows; tokens stream through our broker,
never through Temporal's history.

The model is faked at the wire, as in tests/examples: `examples/scripted_model.py` (an
OpenAI-compatible server) on loopback, the tenant's `default` alias. The supervisor example
calls two specialist agents (each an `llm` node) and merges their answers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from pydantic_ai import models
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from agentdeck.config import Settings
from examples import scripted_model
from tests.examples.conftest import Deck, make_deck
from tests.factories import create_tenant
from tests.temporal.conftest import Served, serve, temporal_settings
from tests.temporal.test_replay import HISTORIES, RECORD
from tests.temporal.test_worker_crash import HeldModel, _until
from tests.tools.servers import loopback_allowed, serving

SPECIALISTS = ("market-analyst", "risk-analyst")
QUESTION = "Should we launch the pocket printer in Norway?"


@pytest.fixture(scope="module")
async def model_url() -> AsyncIterator[str]:
    async with serving(scripted_model.app) as url:
        yield f"{url}/v1"


@pytest.fixture(scope="module")
async def deck_app(settings: Settings, temporal_address: str) -> AsyncIterator[Served]:
    async with serve(temporal_settings(settings, temporal_address), real_models=True) as s:
        yield s


@pytest.fixture(autouse=True)
def _loopback_models() -> Iterator[None]:
    with loopback_allowed(), models.override_allow_model_requests(True):
        yield


@pytest.fixture
async def deck(deck_app: Served, model_url: str) -> AsyncIterator[Deck]:
    async with httpx.AsyncClient(base_url=deck_app.url, timeout=60) as http:
        deck = await make_deck(http, deck_app.url, model_url)
        try:
            yield deck
        finally:
            await deck.sdk.aclose()


def scheduled(history: Any) -> list[tuple[str, str]]:
    """(activity type, activity id) of every activity the workflow scheduled, in order,
    and ("child", workflow id) of every child workflow it started."""
    out = []
    for event in history.events:
        kind = event.WhichOneof("attributes")
        if kind == "activity_task_scheduled_event_attributes":
            attrs = event.activity_task_scheduled_event_attributes
            out.append((attrs.activity_type.name, attrs.activity_id))
        elif kind == "start_child_workflow_execution_initiated_event_attributes":
            out.append(
                (
                    "child",
                    event.start_child_workflow_execution_initiated_event_attributes.workflow_id,
                )
            )
    return out


async def test_each_model_and_tool_call_is_its_own_activity(
    deck: Deck, temporal_address: str
) -> None:
    for name in (*SPECIALISTS, "supervisor"):
        await deck.import_example(name)
    thread = await deck.sdk.threads.create()
    chunks: list[str] = []
    async for part in deck.sdk.runs.stream(
        thread["thread_id"], "launch-supervisor", input={"question": QUESTION},
        stream_mode="messages-tuple",
    ):  # fmt: skip
        if part.event == "messages":
            chunk, _meta = part.data
            chunks.append(str(chunk.get("content") or ""))
    (listed,) = await deck.sdk.runs.list(thread["thread_id"])
    run = await deck.get(f"/api/v1/runs/{listed['run_id']}")
    assert run["status"] == "completed", run["error"]
    assert run["output"].startswith("Merged answer:\n- market-analyst: The market analyst:")
    # the merged answer streamed word by word (through the broker)
    assert len([c for c in chunks if c]) > 5 and "".join(chunks).endswith(run["output"])

    events = await deck.events(run["id"])
    children = {d["agent"]: d["run_id"] for t, d in events if t == "subagent.started"}
    assert set(children) == set(SPECIALISTS)
    results = {d["name"]: d["result"] for t, d in events if t == "tool.result"}
    for agent, child_id in children.items():
        child = await deck.get(f"/api/v1/runs/{child_id}")
        assert child["parent_run_id"] == run["id"] and child["status"] == "completed"
        assert results[f"agent_{agent}"] == child["output"]

    client = await Client.connect(temporal_address, data_converter=pydantic_data_converter)
    history = await client.get_workflow_handle(run["id"]).fetch_history()
    calls = scheduled(history)
    assert calls == [
        ("agentdeck.agent.setup", "supervise#1/setup"),
        ("agentdeck.agent.model", "supervise#1/model0"),
        ("child", children["market-analyst"]),
        ("child", children["risk-analyst"]),
        ("agentdeck.agent.model", "supervise#1/model1"),
    ]
    assert "message.delta" not in history.to_json()  # tokens never enter the history
    if RECORD and not (HISTORIES / "supervisor.json").exists():  # see test_replay
        (HISTORIES / "supervisor.json").write_text(history.to_json())
    for child_id in children.values():
        description = await client.get_workflow_handle(child_id).describe()
        assert description.parent_id == run["id"]

    steps = await deck.get(f"/api/v1/runs/{run['id']}/steps")
    (step,) = steps["items"]
    assert (step["node_id"], step["attempt"], step["status"]) == ("supervise", 1, "completed")
    assert step["tokens_in"] > 0 and step["tokens_out"] > 0


async def test_another_tenant_gets_404_for_the_agent_tool_child_runs(
    deck: Deck, deck_app: Served
) -> None:
    for name in (*SPECIALISTS, "supervisor"):
        await deck.import_example(name)
    run = await deck.run("launch-supervisor", {"question": QUESTION})
    assert run["status"] == "completed", run["error"]
    events = await deck.events(run["id"])
    child_ids = [d["run_id"] for t, d in events if t == "subagent.started"]
    assert len(child_ids) == 2
    other = await create_tenant(deck.http)
    for run_id in (run["id"], *child_ids):
        for path in ("", "/steps", "/events"):
            resp = await deck.http.get(f"/api/v1/runs/{run_id}{path}", headers=other.headers)
            assert resp.status_code == 404, (path, resp.text)


async def test_cancel_stops_the_model_call_in_flight(deck_app: Served) -> None:
    """Cancelling the run while the supervisor's second model turn is in flight cancels
    that activity; the step is recorded failed (cancelled) and the run cancelled, once."""
    model = HeldModel()
    async with (
        serving(model) as model_base,
        httpx.AsyncClient(base_url=deck_app.url, timeout=60) as http,
    ):
        deck = await make_deck(http, deck_app.url, f"{model_base}/v1")
        try:
            for name in (*SPECIALISTS, "supervisor"):
                await deck.import_example(name)
            thread = await deck.sdk.threads.create()
            tid = thread["thread_id"]
            created = await deck.sdk.runs.create(
                tid, "launch-supervisor", input={"question": QUESTION}
            )
            await _until(lambda: "merge" in model.kinds, 60, "the second model turn")
            await deck.sdk.runs.cancel(tid, created["run_id"])
            await deck.sdk.runs.join(tid, created["run_id"])
            run = await deck.get(f"/api/v1/runs/{created['run_id']}")
            events = [t for t, _ in await deck.events(run["id"])]
            (step,) = (await deck.get(f"/api/v1/runs/{run['id']}/steps"))["items"]
        finally:
            model.release.set()
            await deck.sdk.aclose()
    assert run["status"] == "cancelled", run
    assert (step["status"], step["error"]["kind"]) == ("failed", "cancelled")
    assert events[-1] == "run.cancelled" and events.count("run.cancelled") == 1
    assert model.kinds.count("merge") == 1  # not made again
