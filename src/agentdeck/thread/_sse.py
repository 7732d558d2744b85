"""Run events as the LangGraph server streams them (Server-Sent Events).

`metadata` first, then per event one SSE event per requested stream mode, then `end`:

* `values`: the whole state `{inputs, steps, output}` after each step (with `__interrupt__`
  when the run stops for a person);
* `updates`: `{node: output}` per step, `{"__interrupt__": [...]}` on an interrupt;
* `messages-tuple` (event `messages`): `[chunk, metadata]` per model token;
  `messages` (event `messages/partial`): the message so far;
* `custom`: tool calls and results, retries, skipped and failed steps, and the sub-agent
  runs a step starts and sees end (`subagent.started` / `subagent.ended`, with `run_id`);
* a failed run sends `error` (`{error, message}`) instead of `end`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from agentdeck.kit.sse import frame
from agentdeck.run.events.bus import StreamItem
from agentdeck.thread.service import as_interrupt

SUPPORTED = ("values", "updates", "messages", "messages-tuple", "custom")
_CUSTOM = frozenset({
    "tool.called", "tool.result", "step.retrying", "step.skipped", "step.failed",
    "subagent.started", "subagent.ended",
})  # fmt: skip


def modes_of(stream_mode: str | Iterable[str] | None) -> list[str]:
    """The requested modes in request order (default `values`); unknown ones are dropped."""
    if stream_mode is None:
        return ["values"]
    wanted = [stream_mode] if isinstance(stream_mode, str) else list(stream_mode)
    return [m for m in dict.fromkeys(wanted) if m in SUPPORTED]


class Translator:
    """Turns one run's events into LangGraph SSE messages, keeping the state as it goes."""

    def __init__(self, run_id: str, modes: list[str], values: dict[str, Any]) -> None:
        self.run_id = run_id
        self.modes = modes
        self.values: dict[str, Any] = {
            "inputs": values.get("inputs"),
            "steps": dict(values.get("steps") or {}),
            "output": values.get("output"),
        }
        self._messages: dict[str, str] = {}
        self.failed = False

    @property
    def wants_deltas(self) -> bool:
        return "messages" in self.modes or "messages-tuple" in self.modes

    def start(self) -> str:
        return frame("metadata", {"run_id": self.run_id, "attempt": 1})

    def end(self) -> str:
        return frame("end", None)

    def translate(self, item: StreamItem) -> list[str]:
        """The SSE messages for one run event (possibly none)."""
        kind, data, seq = item.type, item.data, item.seq
        out: list[str] = []
        if kind == "step.completed" and data.get("index") is None:
            node = str(data.get("node"))
            self.values["steps"][node] = data.get("output")
            for mode in self.modes:
                if mode == "updates":
                    out.append(frame("updates", {node: data.get("output")}, seq))
                elif mode == "values":
                    out.append(frame("values", self.values, seq))
        elif kind == "message.delta":
            out.extend(self._delta(str(data.get("node")), str(data.get("delta", ""))))
        elif kind in _CUSTOM and "custom" in self.modes:
            out.append(frame("custom", {"event": kind, **data}, seq))
        elif kind == "run.completed":
            self.values["output"] = data.get("output")
            if "values" in self.modes:
                out.append(frame("values", self.values, seq))
        elif kind == "run.interrupted":
            interrupt = as_interrupt(dict(data.get("interrupt") or {}), self.run_id)
            for mode in self.modes:
                if mode == "updates":
                    out.append(frame("updates", {"__interrupt__": [interrupt]}, seq))
                elif mode == "values":
                    out.append(frame("values", {**self.values, "__interrupt__": [interrupt]}, seq))
        elif kind == "run.failed":
            error = data.get("error") or {}
            self.failed = True
            out.append(
                frame(
                    "error",
                    {"error": error.get("kind", "error"), "message": error.get("message", "")},
                    seq,
                )
            )
        return out

    def _delta(self, node: str, delta: str) -> list[str]:
        out: list[str] = []
        message_id = f"run-{self.run_id}-{node}"
        if "messages-tuple" in self.modes:
            chunk = {"type": "AIMessageChunk", "id": message_id, "content": delta}
            meta = {"langgraph_node": node, "run_id": self.run_id}
            out.append(frame("messages", [chunk, meta]))
        if "messages" in self.modes:
            self._messages[node] = self._messages.get(node, "") + delta
            message = {"type": "ai", "id": message_id, "content": self._messages[node]}
            out.append(frame("messages/partial", [message]))
        return out
