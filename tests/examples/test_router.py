"""examples/router.yaml: the classifier's structured reply picks one branch (`when`)."""

from __future__ import annotations

import pytest

from tests.examples.conftest import Deck


@pytest.mark.parametrize(
    ("message", "route"),
    [
        ("I was charged twice this month, a billing mistake on invoice 42.", "billing"),
        ("The app crashes on start: a technical fault since the update.", "technical"),
        ("What are your opening hours?", "general"),
    ],
)
async def test_router_runs_only_the_branch_it_picked(deck: Deck, message: str, route: str) -> None:
    await deck.import_example("router")
    run = await deck.run("support-router", {"message": message})
    assert run["status"] == "completed", run["error"]
    steps = await deck.steps(run["id"])
    assert steps["classify"] == {"route": route}
    branches = {"billing", "technical", "general"}
    assert branches & steps.keys() == {route}  # the other two were skipped
    assert run["output"]["route"] == route
    assert run["output"]["answer"] == steps[route]
    who = {"billing": "billing specialist", "technical": "technical support engineer",
           "general": "front desk"}[route]  # fmt: skip
    assert steps[route].startswith(f"The {who}:")
    skipped = [d["node"] for t, d in await deck.events(run["id"]) if t == "step.skipped"]
    assert sorted(skipped) == sorted(branches - {route})
