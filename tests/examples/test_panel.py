"""examples/panel.yaml: three specialists in parallel, a synthesis that cites each one."""

from __future__ import annotations

import re

from tests.examples.conftest import Deck, Gate

SPECIALISTS = ("legal", "security", "cost")


async def test_parallel_specialists_and_a_cited_synthesis(deck: Deck, gate: Gate) -> None:
    await deck.import_example("panel")
    gate.hold("Review this proposal", count=3)  # answered only once all three are asking
    run = await deck.run("review-panel", {"proposal": "Store customer files in a new cloud"})
    assert run["status"] == "completed", run["error"]
    steps = await deck.steps(run["id"])
    for name in SPECIALISTS:
        assert steps[name].startswith(f"The {name} reviewer:")

    # the model answered the reviewers only once all three were waiting: they ran side by
    # side; the synthesis started only after the last of them finished
    order = [(t, d["node"]) for t, d in await deck.events(run["id"]) if t.startswith("step.")]
    started = [order.index(("step.started", n)) for n in SPECIALISTS]
    completed = [order.index(("step.completed", n)) for n in SPECIALISTS]
    assert max(started) < min(completed)
    assert order.index(("step.started", "synthesis")) > max(completed)

    output = run["output"]
    sources = {s["n"]: s for s in output["sources"]}
    assert [sources[n]["specialist"] for n in (1, 2, 3)] == list(SPECIALISTS)
    for n, name in enumerate(SPECIALISTS, 1):
        assert sources[n]["text"] == steps[name]
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", output["recommendation"])}
    assert cited == {1, 2, 3}
    assert output["recommendation"] == steps["synthesis"]
    # each cited point carries its reviewer's words
    for n, name in enumerate(SPECIALISTS, 1):
        assert f"{name} says: {steps[name]} [{n}]" in output["recommendation"]
