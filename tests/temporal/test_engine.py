"""The engine's behaviour on Temporal, through the HTTP API: chains, fan-out, `when`,
`on_error`, retries with backoff, timeouts, cancellation, and continue-as-new."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.engine.conftest import LocalServer
from tests.temporal.conftest import API, Org


def chain(n: int) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = [{"id": "n1", "type": "transform", "value": "{{ inputs.x }}"}]
    for i in range(2, n + 1):
        nodes.append(
            {"id": f"n{i}", "type": "transform", "needs": [f"n{i - 1}"],
             "value": f"{{{{ steps.n{i - 1}.output }}}}-{i}"}
        )  # fmt: skip
    return nodes


async def test_chain_completes_with_the_journal_written(org: Org) -> None:
    agent = await org.agent({"name": "chain", "nodes": chain(3)})
    run = await org.run(agent, {"x": "a"})
    assert run["status"] == "completed", run
    assert run["output"] == "a-2-3"
    steps = await org.steps(run["id"])
    assert [(s["node_id"], s["attempt"], s["status"]) for s in steps] == [
        ("n1", 1, "completed"), ("n2", 1, "completed"), ("n3", 1, "completed"),
    ]  # fmt: skip
    types = [e["type"] for e in await org.events(run["id"])]
    assert types[0] == "run.started" and types[-1] == "run.completed"
    assert types.count("step.completed") == 3


async def test_fan_out_runs_every_item_once_in_order(org: Org, local_server: LocalServer) -> None:
    nodes = [
        {"id": "items", "type": "transform", "value": "{{ inputs.items }}"},
        {"id": "call", "type": "http", "needs": ["items"], "method": "POST",
         "for_each": "steps.items.output", "max_concurrency": 5,
         "url": f"{local_server.url}/item/{{{{ item }}}}"},
        {"id": "double", "type": "transform", "needs": ["items"],
         "for_each": "steps.items.output", "value": "{{ item * 2 }}"},
        {"id": "out", "type": "transform", "needs": ["call", "double"],
         "value": "{{ steps.double.output }}"},
    ]  # fmt: skip
    agent = await org.agent({"name": "fan", "nodes": nodes})
    run = await org.run(agent, {"items": list(range(12))})
    assert run["status"] == "completed", run
    assert run["output"] == [i * 2 for i in range(12)]
    assert all(local_server.log.count(f"/item/{i}") == 1 for i in range(12))
    steps = await org.steps(run["id"])
    items = sorted(s["index"] for s in steps if s["node_id"] == "call" and s["index"] is not None)
    assert items == list(range(12))


async def test_for_each_of_1000_items(org: Org) -> None:
    nodes = [
        {"id": "items", "type": "transform", "value": "{{ range(inputs.n) | list }}"},
        {"id": "sq", "type": "transform", "needs": ["items"], "max_concurrency": 64,
         "for_each": "steps.items.output", "value": "{{ item * item }}"},
        {"id": "out", "type": "transform", "needs": ["sq"], "value": "{{ steps.sq.output | sum }}"},
    ]  # fmt: skip
    agent = await org.agent({"name": "thousand", "nodes": nodes, "max_steps": 2000})
    run = await org.run(agent, {"n": 1000})
    assert run["status"] == "completed", run
    assert run["output"] == sum(i * i for i in range(1000))


async def test_when_picks_a_branch_and_the_fan_in_still_runs(org: Org) -> None:
    nodes = [
        {"id": "a", "type": "transform", "value": "{{ inputs.flag }}"},
        {"id": "yes", "type": "transform", "needs": ["a"], "when": "steps.a.output",
         "value": "yes"},
        {"id": "no", "type": "transform", "needs": ["a"], "when": "not steps.a.output",
         "value": "no"},
        {"id": "out", "type": "transform", "needs": ["yes", "no"], "when": "true",
         "value": "{{ steps.yes.output or steps.no.output }}"},
    ]  # fmt: skip
    agent = await org.agent({"name": "branch", "nodes": nodes})
    for flag, answer, skipped in ((True, "yes", "no"), (False, "no", "yes")):
        run = await org.run(agent, {"flag": flag})
        assert (run["status"], run["output"]) == ("completed", answer), run
        steps = {s["node_id"]: s["status"] for s in await org.steps(run["id"])}
        assert steps[skipped] == "skipped" and steps[answer] == "completed"


async def test_on_error_continue_and_error_branch(org: Org, local_server: LocalServer) -> None:
    nodes = [
        {"id": "bad", "type": "transform", "value": "{{ inputs.nope.deeper }}",
         "on_error": "fix"},
        {"id": "after_bad", "type": "transform", "needs": ["bad"], "value": "never"},
        {"id": "fix", "type": "transform", "value": "fixed"},
        {"id": "gone", "type": "http", "url": f"{local_server.url}/gone",
         "on_error": "continue", "default": {"d": 1},
         "timeout": 0.3},
        {"id": "out", "type": "transform", "needs": ["fix", "gone"],
         "value": {"fix": "{{ steps.fix.output }}", "gone": "{{ steps.gone.output }}"}},
    ]  # fmt: skip
    local_server.log.delay_first["/gone"] = 5.0  # times out: kind timeout, not retried
    agent = await org.agent({"name": "errors", "nodes": nodes})
    run = await org.run(agent)
    assert run["status"] == "completed", run
    assert run["output"] == {"fix": "fixed", "gone": {"d": 1}}
    steps = {s["node_id"]: s for s in await org.steps(run["id"])}
    assert steps["bad"]["status"] == "failed" and steps["bad"]["error"]["kind"] == "template"
    assert steps["after_bad"]["status"] == "skipped"
    assert steps["gone"]["error"]["kind"] == "timeout" and steps["gone"]["attempt"] == 1


async def test_retries_with_backoff_then_success(org: Org, local_server: LocalServer) -> None:
    retry = {"max_attempts": 3, "initial_delay": 0.05, "jitter": False}
    nodes = [
        {"id": "flaky", "type": "http", "method": "POST", "url": f"{local_server.url}/flaky",
         "retry": retry},
    ]  # fmt: skip
    local_server.log.fail_first = 2  # 503 twice
    agent = await org.agent({"name": "flaky", "nodes": nodes})
    run = await org.run(agent)
    assert run["status"] == "completed", run
    steps = await org.steps(run["id"])
    assert [(s["attempt"], s["status"]) for s in steps] == [
        (1, "failed"), (2, "failed"), (3, "completed"),
    ]  # fmt: skip
    assert {s["error"]["kind"] for s in steps[:2]} == {"http_5xx"}
    assert local_server.log.keys("/flaky") == [f"{run['id']}:flaky"] * 3
    events = await org.events(run["id"])
    assert [e["type"] for e in events].count("step.retrying") == 2


async def test_a_failed_node_fails_the_run(org: Org, local_server: LocalServer) -> None:
    nodes = [
        {"id": "slow", "type": "http", "url": f"{local_server.url}/slow", "timeout": 0.3},
        {"id": "next", "type": "transform", "needs": ["slow"], "value": 1},
    ]
    local_server.log.delay_first["/slow"] = 5.0
    agent = await org.agent({"name": "fails", "nodes": nodes})
    run = await org.run(agent)
    assert run["status"] == "failed", run
    assert run["error"]["node"] == "slow" and run["error"]["kind"] == "timeout"
    types = [e["type"] for e in await org.events(run["id"])]
    assert types[-1] == "run.failed" and "step.failed" in types


async def test_cancel_stops_the_node_in_flight(org: Org, local_server: LocalServer) -> None:
    nodes = [
        {"id": "hang", "type": "http", "url": f"{local_server.url}/hang"},
        {"id": "never", "type": "transform", "needs": ["hang"], "value": 1},
    ]
    local_server.log.delay_first["/hang"] = 8.0
    agent = await org.agent({"name": "cancel", "nodes": nodes})
    thread_id, run_id = await org.start(agent)
    for _ in range(400):
        if local_server.log.count("/hang"):
            break
        await asyncio.sleep(0.025)
    resp = await org.http.post(f"{API}/runs/{run_id}/cancel", headers=org.tenant.headers)
    assert resp.status_code == 200, resp.text
    run = await org.join(thread_id, run_id)
    assert run["status"] == "cancelled", run
    steps = await org.steps(run_id)
    assert [(s["node_id"], s["status"], s["error"]["kind"]) for s in steps] == [
        ("hang", "failed", "cancelled")
    ]
    types = [e["type"] for e in await org.events(run_id)]
    assert types[-1] == "run.cancelled" and types.count("run.cancelled") == 1
