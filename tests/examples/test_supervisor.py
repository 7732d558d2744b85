"""examples/supervisor.yaml: an agent node hands the question to two specialist agents
(`agents:`), each a linked child run, and merges their answers; another tenant sees none
of these runs."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from langgraph_sdk.errors import NotFoundError

from tests.examples.conftest import Deck, make_deck

SPECIALISTS = ("market-analyst", "risk-analyst")
QUESTION = "Should we launch the pocket printer in Norway?"


async def _supervised(deck: Deck) -> dict[str, Any]:
    for name in (*SPECIALISTS, "supervisor"):
        await deck.import_example(name)
    run = await deck.run("launch-supervisor", {"question": QUESTION})
    assert run["status"] == "completed", run["error"]
    return run


def _children(events: list[tuple[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Agent name -> its `subagent.started` event data, checked against `subagent.ended`."""
    started = {d["agent"]: d for t, d in events if t == "subagent.started"}
    ended = {d["agent"]: d for t, d in events if t == "subagent.ended"}
    assert started.keys() == ended.keys() == set(SPECIALISTS)
    for agent, data in started.items():
        assert data["node"] == "supervise"
        assert ended[agent]["run_id"] == data["run_id"]
        assert ended[agent]["status"] == "completed"
    return started


async def test_supervisor_merges_two_specialists_and_links_their_runs(deck: Deck) -> None:
    run = await _supervised(deck)
    events = await deck.events(run["id"])
    children = _children(events)

    # every child run is linked to the parent, ran its own agent on the handed-over question
    answers = {}
    for agent, link in children.items():
        child = await deck.get(f"/api/v1/runs/{link['run_id']}")
        assert child["parent_run_id"] == run["id"]
        assert child["status"] == "completed"
        assert child["inputs"] == {"question": QUESTION}
        assert child["agent_id"] == (await _agent(deck, agent))["id"]
        who = agent.replace("-", " ")
        assert child["output"].startswith(f"The {who}:")
        answers[agent] = child["output"]

    # the tool calls name the agent tools; each result is that child run's output
    calls = {d["call_id"]: d["name"] for t, d in events if t == "tool.called"}
    results = {calls[d["call_id"]]: d["result"] for t, d in events if t == "tool.result"}
    assert results == {f"agent_{a}": answers[a] for a in SPECIALISTS}

    # the merged answer says which specialist said what
    assert run["output"] == "Merged answer:\n" + "\n".join(
        f"- {a}: {answers[a]}" for a in SPECIALISTS
    )
    # the run list shows the children too, each pointing at the supervisor's run
    listed = await deck.get("/api/v1/runs", limit=10)
    parents = {r["id"]: r["parent_run_id"] for r in listed["items"]}
    assert {parents[c["run_id"]] for c in children.values()} == {run["id"]}
    assert parents[run["id"]] is None


async def _agent(deck: Deck, name: str) -> dict[str, Any]:
    body = await deck.get("/api/v1/agents", space_id=deck.space, limit=50)
    return next(a for a in body["items"] if a["name"] == name)


async def test_another_tenant_gets_404_for_the_parent_and_child_runs(
    deck: Deck, http: httpx.AsyncClient, base_url: str, model_url: str
) -> None:
    run = await _supervised(deck)
    children = [c["run_id"] for c in _children(await deck.events(run["id"])).values()]
    other = await make_deck(http, base_url, model_url)
    try:
        for run_id in (run["id"], *children):
            for path in ("", "/steps", "/events"):
                resp = await http.get(f"/api/v1/runs/{run_id}{path}", headers=other.headers)
                assert resp.status_code == 404, (path, resp.text)
                assert "analyst" not in resp.text and QUESTION not in resp.text
            resp = await http.post(f"/api/v1/runs/{run_id}/cancel", headers=other.headers)
            assert resp.status_code == 404, resp.text
        listed = await other.get("/api/v1/runs", limit=100)
        assert not {r["id"] for r in listed["items"]} & {run["id"], *children}
        thread_id = (await deck.get(f"/api/v1/runs/{run['id']}"))["thread_id"]
        with pytest.raises(NotFoundError):
            await other.sdk.runs.get(thread_id, run["id"])
        with pytest.raises(NotFoundError):
            await other.sdk.threads.get(thread_id)
    finally:
        await other.sdk.aclose()
    # the owner still reads them all
    for run_id in (run["id"], *children):
        assert (await deck.get(f"/api/v1/runs/{run_id}"))["id"] == run_id
