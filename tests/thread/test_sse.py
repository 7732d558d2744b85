"""The translation of run events into LangGraph SSE messages (pure, no server)."""

from __future__ import annotations

import json
from typing import Any

from agentdeck.run.events.bus import StreamItem
from agentdeck.thread._sse import Translator, modes_of


def _parse(messages: list[str]) -> list[tuple[str, Any]]:
    out = []
    for message in messages:
        fields = dict(line.split(": ", 1) for line in message.strip().splitlines())
        out.append((fields["event"], json.loads(fields["data"])))
    return out


def test_modes_default_to_values_and_drop_unknown() -> None:
    assert modes_of(None) == ["values"]
    assert modes_of("updates") == ["updates"]
    assert modes_of(["updates", "debug", "updates", "custom"]) == ["updates", "custom"]


def test_steps_interrupts_messages_and_custom() -> None:
    t = Translator("r1", ["updates", "values", "messages-tuple", "custom"], {"inputs": {"a": 1}})
    assert t.wants_deltas
    step = _parse(t.translate(StreamItem("r1", "step.completed", {"node": "n", "output": 2}, 3)))
    assert step == [
        ("updates", {"n": 2}),
        ("values", {"inputs": {"a": 1}, "steps": {"n": 2}, "output": None}),
    ]
    assert t.translate(StreamItem("r1", "step.completed", {"node": "n", "index": 0}, 4)) == []
    (delta,) = _parse(t.translate(StreamItem("r1", "message.delta", {"node": "m", "delta": "hi"})))
    assert delta[0] == "messages" and delta[1][0]["content"] == "hi"
    assert delta[1][1]["langgraph_node"] == "m"
    (custom,) = _parse(t.translate(StreamItem("r1", "tool.called", {"tool": "x"}, 5)))
    assert custom == ("custom", {"event": "tool.called", "tool": "x"})
    child = {"node": "ask", "run_id": "c1", "agent": "helper"}
    (started,) = _parse(t.translate(StreamItem("r1", "subagent.started", child, 7)))
    assert started == ("custom", {"event": "subagent.started", **child})
    interrupted = _parse(
        t.translate(
            StreamItem("r1", "run.interrupted", {"interrupt": {"node": "h", "message": "ok?"}}, 6)
        )
    )
    (interrupt,) = interrupted[0][1]["__interrupt__"]
    assert interrupt["value"] == {"node": "h", "message": "ok?"} and len(interrupt["id"]) == 32
    assert interrupted[1][1]["__interrupt__"] == [interrupt]


def test_completion_and_failure() -> None:
    t = Translator("r2", ["values", "messages"], {})
    (final,) = _parse(t.translate(StreamItem("r2", "run.completed", {"output": 7}, 2)))
    assert final == ("values", {"inputs": None, "steps": {}, "output": 7})
    t.translate(StreamItem("r2", "message.delta", {"node": "m", "delta": "a"}))
    (partial,) = _parse(t.translate(StreamItem("r2", "message.delta", {"node": "m", "delta": "b"})))
    assert partial[0] == "messages/partial" and partial[1][0]["content"] == "ab"
    failed = t.translate(
        StreamItem("r2", "run.failed", {"error": {"kind": "tool", "message": "boom"}}, 3)
    )
    assert _parse(failed) == [("error", {"error": "tool", "message": "boom"})]
    assert t.failed
    assert t.start().startswith("event: metadata") and t.end().startswith("event: end")
