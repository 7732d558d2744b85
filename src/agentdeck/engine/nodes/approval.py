"""Tool approval in an agent loop: the interrupt, the person's decision, the checkpoint.

An agent node whose model calls a tool listed in `approve` stops before the call with
`Interrupt({node, type: "tool_approval", tool, arguments, schema, ...})`. The interrupt
also carries the loop's checkpoint (messages so far, usage, iteration, the calls of the
turn still to run, the next call index): it is journaled with the interrupted step and
never shown to clients (:func:`public_interrupt`). Resuming continues from it, so no model
turn and no finished tool call before the pause is repeated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jsonschema

from agentdeck.engine.errors import ResumeError
from agentdeck.engine.journal import NO_USAGE, Usage
from agentdeck.engine.ports import ChatMessage, ToolCall
from agentdeck.kit import jsonschemas

APPROVAL = "tool_approval"
CHECKPOINT = "checkpoint"

DECISION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "action": {"enum": ["approve", "reject", "edit"]},
        "arguments": {"type": "object"},
        "reason": {"type": "string", "maxLength": 2000},
    },
    "required": ["action"],
    "additionalProperties": False,
    "if": {"properties": {"action": {"const": "edit"}}},
    "then": {"required": ["arguments"]},
}
"""What resumes an approval: `{action: approve | reject | edit, arguments, reason}`."""


def check_decision(value: Any) -> dict[str, Any]:
    """The decision, validated; raises ResumeError naming what is wrong."""
    try:
        jsonschemas.validate(value, DECISION_SCHEMA)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        raise ResumeError(f"the approval decision is invalid at {where}: {exc.message}") from exc
    assert isinstance(value, dict)
    return value


def public_interrupt(payload: Any) -> Any:
    """The interrupt as clients see it: without the loop's checkpoint."""
    if isinstance(payload, dict) and CHECKPOINT in payload:
        return {k: v for k, v in payload.items() if k != CHECKPOINT}
    return payload


def _call_dict(call: ToolCall) -> dict[str, Any]:
    return {"id": call.id, "name": call.name, "arguments": call.arguments}


def _call_of(data: dict[str, Any]) -> ToolCall:
    return ToolCall(str(data["id"]), str(data["name"]), dict(data.get("arguments") or {}))


def _message_dict(m: ChatMessage) -> dict[str, Any]:
    return {
        "role": m.role,
        "content": m.content,
        "tool_calls": [_call_dict(c) for c in m.tool_calls],
        "tool_call_id": m.tool_call_id,
    }


def _message_of(data: dict[str, Any]) -> ChatMessage:
    return ChatMessage(
        data["role"],
        str(data.get("content") or ""),
        tuple(_call_of(c) for c in data.get("tool_calls") or []),
        data.get("tool_call_id"),
    )


@dataclass(slots=True)
class LoopState:
    """Where an agent loop is: the conversation, the usage so far, the model turns made,
    the index of its next tool call, and the calls of the current turn not run yet."""

    messages: list[ChatMessage] = field(default_factory=list)
    usage: Usage = NO_USAGE
    iteration: int = 0
    next_index: int = 0
    queue: list[ToolCall] = field(default_factory=list)

    def dump(self) -> dict[str, Any]:
        return {
            "messages": [_message_dict(m) for m in self.messages],
            "usage": [self.usage.tokens_in, self.usage.tokens_out, self.usage.cost_usd],
            "iteration": self.iteration,
            "next_index": self.next_index,
            "queue": [_call_dict(c) for c in self.queue],
        }

    @classmethod
    def load(cls, data: dict[str, Any]) -> LoopState:
        tin, tout, cost = data.get("usage") or (0, 0, 0.0)
        return cls(
            messages=[_message_of(m) for m in data.get("messages") or []],
            usage=Usage(int(tin), int(tout), float(cost)),
            iteration=int(data.get("iteration") or 0),
            next_index=int(data.get("next_index") or 0),
            queue=[_call_of(c) for c in data.get("queue") or []],
        )


def interrupt_payload(node_id: str, ref: str, call: ToolCall, state: LoopState) -> dict[str, Any]:
    """The interrupt of a call waiting for approval (``state.queue[0]`` is ``call``)."""
    return {
        "node": node_id,
        "type": APPROVAL,
        "message": f"Approve the call of {ref}?",
        "tool": ref,
        "arguments": call.arguments,
        "call_id": call.id,
        "index": state.next_index,
        "schema": DECISION_SCHEMA,
        CHECKPOINT: state.dump(),
    }


@dataclass(frozen=True, slots=True)
class Resumed:
    """An approval being resumed: the loop's state and the person's decision."""

    state: LoopState
    decision: dict[str, Any]

    @classmethod
    def of(cls, resume: Any) -> Resumed | None:
        """From the node context's ``resume`` (`{interrupt, resume}`), None when absent."""
        if not isinstance(resume, dict):
            return None
        interrupt = resume.get("interrupt")
        if not isinstance(interrupt, dict) or interrupt.get("type") != APPROVAL:
            return None
        state = LoopState.load(interrupt.get(CHECKPOINT) or {})
        return cls(state, check_decision(resume.get("resume")))
