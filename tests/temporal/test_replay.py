"""Determinism: recorded run histories replay on today's workflow code (`Replayer`).

`histories/*.json` were recorded from runs on the dev server (chain, fan-out with `when`,
a transform fan-out, a retried node, a human step resumed, a `subagent` node and an agent
node; `supervisor.json`, an agent loop calling two agents, comes from test_agent_loop). A
change to the workflow that would make a running workflow take another path must be
guarded by `workflow.patched`, or these fail: `subagent_activity.json` and
`agent_activity.json` were recorded before the sub-agent became a child workflow and the
agent loop moved into the workflow, and replay on the old path. ``AGENTDECK_RECORD_HISTORIES=1``
records the histories whose file is missing (delete one to record it again; after a
guarded change, keep the old files and record new ones). A run recorded just now replays too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from agentdeck.temporal.worker import workflow_runner
from agentdeck.temporal.workflow import RunWorkflow
from tests.engine.conftest import LocalServer
from tests.factories import HITL_YAML
from tests.temporal.conftest import API, Org
from tests.temporal.test_engine import chain

HISTORIES = Path(__file__).with_name("histories")
RECORD = os.environ.get("AGENTDECK_RECORD_HISTORIES") == "1"


def replayer() -> Replayer:
    return Replayer(
        workflows=[RunWorkflow],
        workflow_runner=workflow_runner(),
        data_converter=pydantic_data_converter,
    )


async def _history(address: str, run_id: str) -> WorkflowHistory:
    client = await Client.connect(address, data_converter=pydantic_data_converter)
    return await client.get_workflow_handle(run_id).fetch_history()


def _agents(url: str) -> dict[str, dict[str, Any]]:
    return {
        "chain": {"name": "h-chain", "nodes": chain(4)},
        "branches": {"name": "h-branches", "nodes": [
            {"id": "a", "type": "transform", "value": "{{ inputs.flag }}"},
            {"id": "yes", "type": "transform", "needs": ["a"], "when": "steps.a.output",
             "value": "yes"},
            {"id": "no", "type": "transform", "needs": ["a"], "when": "not steps.a.output",
             "value": "no"},
            {"id": "calls", "type": "http", "needs": ["a"], "for_each": "[1, 2, 3]",
             "url": f"{url}/h/{{{{ item }}}}"},
            {"id": "sq", "type": "transform", "needs": ["a"], "for_each": "[1, 2, 3]",
             "value": "{{ item * item }}"},
            {"id": "out", "type": "transform", "needs": ["yes", "no", "calls", "sq"],
             "when": "true", "value": "{{ steps.sq.output }}"},
        ]},
        "retry": {"name": "h-retry", "nodes": [
            {"id": "flaky", "type": "http", "method": "POST", "url": f"{url}/h-flaky",
             "retry": {"max_attempts": 3, "initial_delay": 0.05, "jitter": False}},
        ]},
        "subagent": {"name": "h-subagent", "nodes": [
            {"id": "ask", "type": "subagent", "agent": "h-child",
             "inputs": {"q": "{{ inputs.x }}"}},
            {"id": "out", "type": "transform", "needs": ["ask"], "value": "{{ steps.ask.output }}"},
        ]},
        "agent": {"name": "h-agent", "nodes": [
            {"id": "think", "type": "agent", "prompt": "hi {{ inputs.x }}"},
        ]},
    }  # fmt: skip


CHILD = {"name": "h-child", "nodes": [
    {"id": "c", "type": "transform", "value": "child {{ inputs.q }}"},
]}  # fmt: skip


async def test_a_run_recorded_now_replays(
    org: Org, temporal_address: str, local_server: LocalServer
) -> None:
    agent = await org.agent(_agents(local_server.url)["branches"])
    run = await org.run(agent, {"flag": True})
    assert run["status"] == "completed", run
    await replayer().replay_workflow(await _history(temporal_address, run["id"]))


@pytest.mark.skipif(not RECORD, reason="records histories only with AGENTDECK_RECORD_HISTORIES=1")
async def test_record_histories(org: Org, temporal_address: str, local_server: LocalServer) -> None:
    HISTORIES.mkdir(exist_ok=True)
    await org.agent(CHILD)
    for name, definition in _agents(local_server.url).items():
        if (HISTORIES / f"{name}.json").exists():
            continue
        agent = await org.agent(definition)
        local_server.log.fail_first = 2 if name == "retry" else 0
        run = await org.run(agent, {"x": "a", "flag": False})
        assert run["status"] == "completed", run
        history = await _history(temporal_address, run["id"])
        (HISTORIES / f"{name}.json").write_text(history.to_json())
    if (HISTORIES / "human.json").exists():
        return
    # a human step: the interrupted run's workflow waits, takes the resume update, ends
    hitl = await org.agent(yaml.safe_load(HITL_YAML.format(name="h-human")))
    thread_id, run_id = await org.start(hitl, {"ticket": "t"})
    assert (await org.join(thread_id, run_id))["status"] == "interrupted"
    body = {"assistant_id": hitl["id"], "command": {"resume": {"approved": True}}}
    url = f"{API}/threads/{thread_id}/runs/wait"
    assert (await org.http.post(url, json=body, headers=org.tenant.headers)).status_code == 200
    client = await Client.connect(temporal_address, data_converter=pydantic_data_converter)
    await client.get_workflow_handle(run_id).result()
    (HISTORIES / "human.json").write_text((await _history(temporal_address, run_id)).to_json())


@pytest.mark.parametrize("path", sorted(HISTORIES.glob("*.json")), ids=lambda p: p.stem)
async def test_recorded_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())  # noqa: ASYNC240
    await replayer().replay_workflow(history)
