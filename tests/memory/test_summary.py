"""Thread memory in the engine alone (memory journal, fake ports): where the summary cuts,
what the summariser reads, and that a step run again after its worker died does not
summarise again nor keep its turn twice."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import pytest

from agentdeck.engine import Engine
from agentdeck.engine.journal import StepStatus
from agentdeck.engine.journal_memory import MemoryJournal
from agentdeck.engine.nodes import Ports
from agentdeck.engine.nodes._memory import SUMMARY_INSTRUCTIONS, cut_point, transcript
from agentdeck.engine.nodes.context import Conversation
from agentdeck.engine.ports import ChatMessage, ChatRequest, ChatResult, ToolCall
from tests.engine.conftest import FakeLLM, RecordingSink, spec_from

SPEC = """
name: m
nodes:
  - id: chat
    type: agent
    prompt: "{{ inputs.message }}"
    memory: {thread: {max_tokens: 100}}
"""


def _turn(text: str, *, tool: bool = False) -> list[ChatMessage]:
    out = [ChatMessage("user", text)]
    if tool:
        call = ToolCall("c-" + text[:3], "recall", {"query": text})
        out += [
            ChatMessage("assistant", "", (call,)),
            ChatMessage("tool", "42", tool_call_id=call.id),
        ]
    return [*out, ChatMessage("assistant", "ok " + text)]


def test_the_cut_starts_a_turn_and_leaves_about_half() -> None:
    messages = [*_turn("a" * 120, tool=True), *_turn("b" * 120), *_turn("c" * 120, tool=True)]
    assert cut_point(messages, 0, 1000, 10) is None
    cut = cut_point(messages, 0, 280, 10)
    assert cut is not None and messages[cut].role == "user"
    assert cut == 6  # the last turn (user, call, result, answer) is kept whole
    assert cut_point(messages, 0, 100, 10) == len(messages)  # no turn fits: all of them
    assert cut_point(messages, 6, 280, 10) is None  # already summarised


def test_the_transcript_names_each_result_after_its_call() -> None:
    text = transcript(_turn("where", tool=True))
    assert text.splitlines() == [
        "user: where",
        'assistant called tool recall with {"query": "where"}',
        "tool recall returned: 42",
        "assistant: ok where",
    ]


class FakeMemory:
    """A MemoryPort on a list, with the semantics of `memory.service`."""

    def __init__(self, messages: Sequence[ChatMessage]) -> None:
        self.rows: list[tuple[str, ChatMessage]] = [("old", m) for m in messages]
        self.summary: str | None = None
        self.count = 0

    async def load(self, *, turn: str) -> Conversation:
        kept = tuple(m for t, m in self.rows if t != turn)
        return Conversation(kept, self.summary, min(self.count, len(kept)))

    async def summarised(self, summary: str, count: int, *, turn: str) -> None:
        self.summary, self.count = summary, count

    async def append(self, messages: Sequence[ChatMessage], *, turn: str) -> None:
        self.rows = [(t, m) for t, m in self.rows if t != turn] + [(turn, m) for m in messages]

    async def remember(self, text: str, *, scope: Literal["user", "space"], key: str) -> str:
        raise AssertionError("not offered")

    async def recall(self, query: str, *, scope: Literal["user", "space"], limit: int) -> list[str]:
        raise AssertionError("not offered")


class WorkerDied(BaseException):
    pass


async def test_a_step_run_again_after_a_crash_does_not_summarise_again() -> None:
    memory = FakeMemory([*_turn("x" * 200, tool=True), *_turn("y" * 200)])
    summaries: list[ChatRequest] = []
    dies = {"yes": True}

    def reply(request: ChatRequest) -> ChatResult:
        if request.messages[0].content == SUMMARY_INSTRUCTIONS:
            summaries.append(request)
            return ChatResult(text="the user sent x and y; recall returned 42")
        if dies.pop("yes", False):
            raise WorkerDied  # the worker dies after the summary was recorded
        return ChatResult(text="answer")

    journal = MemoryJournal()

    def engine() -> Engine:
        ports = Ports(llm=FakeLLM(reply), memory=memory)
        return Engine(journal, ports=ports, events=RecordingSink())

    with pytest.raises(WorkerDied):
        await engine().run(spec_from(SPEC), "r1", {"message": "hello"})
    assert memory.summary is not None and memory.count == 6
    statuses = [r.status for r in await journal.load("r1")]
    assert statuses[-1] is StepStatus.RUNNING
    sink = RecordingSink()
    done = await Engine(journal, ports=Ports(llm=FakeLLM(reply), memory=memory), events=sink).run(
        spec_from(SPEC), "r1", {"message": "hello"}
    )
    assert done.status == "completed" and done.output == "answer"
    assert len(summaries) == 1  # not redone
    assert "tool recall returned: 42" in summaries[0].messages[1].content
    contents = [m.content for _, m in memory.rows]
    assert contents[-2:] == ["hello", "answer"] and contents.count("hello") == 1

    # the next turn (another run) comes after it; the crashed turn is there once
    await Engine(journal, ports=Ports(llm=FakeLLM(reply), memory=memory)).run(
        spec_from(SPEC), "r2", {"message": "again"}
    )
    assert [m.content for _, m in memory.rows].count("hello") == 1
    assert [m.content for _, m in memory.rows][-2:] == ["again", "answer"]


async def test_without_a_memory_port_the_node_fails_clearly() -> None:
    engine = Engine(MemoryJournal(), ports=Ports(llm=FakeLLM()))
    result = await engine.run(spec_from(SPEC), "r1", {"message": "hi"})
    assert result.status == "failed" and result.error is not None
    assert "no memory port" in str(result.error)
