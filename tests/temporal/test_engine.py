"""The engine's behaviour on Temporal, through the HTTP API: chains, fan-out, `when`,
`on_error`, retries with backoff, timeouts, cancellation, and continue-as-new."""

from __future__ import annotations

from typing import Any

from tests.temporal.conftest import Org


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
