"""An agent node's tool approval in the engine alone (memory journal, fake ports): the run
stops before the call, a resume continues from the checkpoint without asking the model or
calling tools again, and a re-run after a crash keeps the decision."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from agentdeck.engine import Engine, Resume, ResumeError
from agentdeck.engine.journal import StepStatus
from agentdeck.engine.journal_memory import MemoryJournal
from agentdeck.engine.ports import ChatRequest, ChatResult, ToolCall
from tests.engine.conftest import FakeLLM, FakeTools, spec_from

MakeEngine = Callable[..., Engine]

SPEC = (
    "name: t\nnodes:\n  - {id: ag, type: agent, prompt: go, tools: [x.look, x.send],"
    " approve: [x.send]}\n"
)


def _spec() -> Any:
    return spec_from(SPEC)


class WorkerDied(BaseException):
    pass


class Tools(FakeTools):
    """Tools of toolset `x`, shown to the model by their bare names."""

    async def list_tools(self, names: Any) -> Any:
        return await super().list_tools([n.removeprefix("x.") for n in names])


def _reply(request: ChatRequest) -> ChatResult:
    turn = sum(1 for m in request.messages if m.role == "assistant")
    if turn == 0:
        return ChatResult(
            tool_calls=(ToolCall("c1", "look", {"q": 1}), ToolCall("c2", "send", {"to": "a"}))
        )
    return ChatResult(text=" | ".join(m.content for m in request.messages if m.role == "tool"))


@pytest.fixture
def tools() -> Tools:
    return Tools({"look": lambda q: f"seen {q}", "send": lambda to: f"sent to {to}"})


async def test_pause_then_approve_edit_or_reject(make_engine: MakeEngine, tools: Tools) -> None:
    llm = FakeLLM(_reply)
    engine = make_engine(llm=llm, tools=tools)
    first = await engine.run(_spec(), "r1")
    assert first.status == "interrupted"
    assert first.interrupt is not None and "checkpoint" not in first.interrupt
    assert first.interrupt["tool"] == "x.send" and first.interrupt["arguments"] == {"to": "a"}
    assert [c[0] for c in tools.calls] == ["look"]  # the call before it ran, send waits

    with pytest.raises(ResumeError):
        await engine.run(_spec(), "r1", resume=Resume({"action": "edit"}))
    decision = {"action": "edit", "arguments": {"to": "b"}}
    done = await engine.run(_spec(), "r1", resume=Resume(decision))
    assert done.status == "completed", done.error
    assert done.output == "seen 1 | sent to b"
    assert tools.calls == [("look", {"q": 1}, "r1:ag:0"), ("send", {"to": "b"}, "r1:ag:1")]
    assert len(llm.requests) == 2  # one turn before the pause, one after

    rejected = await make_engine(llm=FakeLLM(_reply), tools=tools).run(_spec(), "r2")
    assert rejected.status == "interrupted"
    again = await make_engine(llm=FakeLLM(_reply), tools=tools).run(
        _spec(), "r2", resume=Resume({"action": "reject", "reason": "no"})
    )
    assert again.output == 'seen 1 | {"error": "a reviewer rejected this call: no"}'


async def test_a_crash_after_the_resume_keeps_the_decision(
    make_engine: MakeEngine, journal: MemoryJournal, tools: Tools
) -> None:
    engine = make_engine(llm=FakeLLM(_reply), tools=tools)
    assert (await engine.run(_spec(), "r3")).status == "interrupted"

    class Dies(Tools):
        async def call(self, name: str, arguments: Any, *, idempotency_key: str) -> Any:
            raise WorkerDied  # the worker dies mid-call

    with pytest.raises(WorkerDied):
        await make_engine(llm=FakeLLM(_reply), tools=Dies(tools.functions)).run(
            _spec(), "r3", resume=Resume({"action": "approve"})
        )
    statuses = [r.status for r in await journal.load("r3") if r.node_id == "ag"]
    assert statuses[-2:] == [StepStatus.PENDING, StepStatus.RUNNING]
    # the next worker has no resume value to give: the pending record holds the decision
    done = await make_engine(llm=FakeLLM(_reply), tools=tools).run(_spec(), "r3")
    assert done.status == "completed" and done.output == "seen 1 | sent to a"
