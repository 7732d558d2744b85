"""Memory of an `agent` node (`memory:`): the thread's conversation and long-term memories.

Thread memory: a turn starts from the thread's stored messages. When they pass the node's
`max_tokens` (estimated), the oldest turns are folded into a running summary first: one
model call whose result is recorded through the MemoryPort (committed) before the turn
goes on, so a step run again after a crash finds it and does not summarise again. Cuts fall
only where a user message starts a turn, so a tool call and its result always stay on the
same side. The turn's messages (user, tool calls, tool results, answer) are saved when the
node finishes.

Long-term memory: the built-in tools `remember` and `recall`, over the store in a namespace
per user or per space (the port knows which user and space: never the model).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from agentdeck.engine.errors import NodeError
from agentdeck.engine.journal import NO_USAGE, Usage
from agentdeck.engine.nodes.context import NodeContext
from agentdeck.engine.ports import ChatMessage, ChatRequest, ToolCall, ToolSpec
from agentdeck.engine.spec import AgentNode, ThreadMemory

REMEMBER, RECALL = "remember", "recall"
MEMORY_TOOLS = frozenset({REMEMBER, RECALL})
MAX_MEMORY_CHARS = 4000
SUMMARY_INSTRUCTIONS = (
    "You keep the running summary of a conversation. Fold the new messages into the "
    "summary so far: keep facts, names, preferences, decisions, open questions and what "
    "each tool returned. Answer with the updated summary only."
)
SUMMARY_PREFIX = "Summary of the earlier conversation:\n"


def estimate_tokens(messages: Sequence[ChatMessage]) -> int:
    """A cheap upper-leaning estimate (4 characters a token, plus a little per message)."""
    size = 0
    for m in messages:
        size += len(m.content) // 4 + 4
        for call in m.tool_calls:
            size += (len(call.name) + len(json.dumps(call.arguments, default=str))) // 4 + 4
    return size


def cut_point(
    messages: Sequence[ChatMessage], summarised: int, max_tokens: int, incoming: int
) -> int | None:
    """How many leading messages the summary should cover, or None when the unsummarised
    messages (plus `incoming` tokens of the new turn) fit in `max_tokens`.

    The cut is at a user message (a turn's start) or at the end, never inside a turn, and
    leaves the fewest turns that bring the history down to about half the budget.
    """
    if estimate_tokens(messages[summarised:]) + incoming <= max_tokens:
        return None
    target = max_tokens // 2
    starts = [i for i in range(summarised + 1, len(messages)) if messages[i].role == "user"]
    for cut in [*starts, len(messages)]:
        if estimate_tokens(messages[cut:]) + incoming <= target:
            return cut
    return len(messages)


def transcript(messages: Sequence[ChatMessage]) -> str:
    """The messages as text for the summariser, each tool result named after its call."""
    names: dict[str, str] = {}
    lines: list[str] = []
    for m in messages:
        if m.role == "tool":
            name = names.get(m.tool_call_id or "", "tool")
            lines.append(f"tool {name} returned: {m.content}")
            continue
        if m.content:
            lines.append(f"{m.role}: {m.content}")
        for call in m.tool_calls:
            names[call.id] = call.name
            arguments = json.dumps(call.arguments, default=str)
            lines.append(f"{m.role} called tool {call.name} with {arguments}")
    return "\n".join(lines)


async def _summarise(
    ctx: NodeContext, node: AgentNode, thread: ThreadMemory, summary: str | None, new: str
) -> tuple[str, Usage]:
    text = f"Summary so far:\n{summary or '(none)'}\n\nNew messages:\n{new}"
    request = ChatRequest(
        model=thread.summary_model or node.model,
        messages=(ChatMessage("system", SUMMARY_INSTRUCTIONS), ChatMessage("user", text)),
        idempotency_key=f"{ctx.idempotency_key}:summary",
    )
    result = await ctx.ports.need_llm().chat(request)
    return result.text.strip(), result.usage


async def thread_history(
    ctx: NodeContext, node: AgentNode, turn: Sequence[ChatMessage]
) -> tuple[list[ChatMessage], Usage]:
    """The messages a turn starts from (the summary, then the unsummarised history),
    summarising first when they pass the budget; and the summary call's usage.

    Raises the LLM port's and the memory port's NodeErrors.
    """
    assert node.memory is not None and node.memory.thread is not None
    thread = node.memory.thread
    port = ctx.ports.need_memory()
    conversation = await port.load(turn=ctx.idempotency_key)
    stored, summary, done = conversation.messages, conversation.summary, conversation.summarised
    usage = NO_USAGE
    cut = cut_point(stored, done, thread.max_tokens, estimate_tokens(turn))
    if cut is not None and cut > done:
        summary, usage = await _summarise(ctx, node, thread, summary, transcript(stored[done:cut]))
        await port.summarised(summary, cut, turn=ctx.idempotency_key)
        await ctx.emit(
            "memory.summarised",
            {"node": node.id, "messages": cut, "kept": len(stored) - cut,
             "tokens_before": estimate_tokens(stored[done:]),
             "tokens_after": estimate_tokens(stored[cut:])},
        )  # fmt: skip
        done = cut
    history: list[ChatMessage] = []
    if summary:
        history.append(ChatMessage("system", SUMMARY_PREFIX + summary))
    history.extend(stored[done:])
    return history, usage


async def save_turn(ctx: NodeContext, messages: Sequence[ChatMessage], answer: str) -> None:
    """Save the turn (from its user message on) and the answer to the thread."""
    start = max((i for i, m in enumerate(messages) if m.role == "user"), default=len(messages))
    turn = [*messages[start:], ChatMessage("assistant", answer)]
    await ctx.ports.need_memory().append(turn, turn=ctx.idempotency_key)


def memory_tools() -> list[ToolSpec]:
    """What the model is told about `remember` and `recall`."""
    return [
        ToolSpec(
            name=REMEMBER,
            description="Keep a fact for later conversations (about the user, their "
            "preferences, decisions). Write it as a short, self-contained sentence.",
            parameters={
                "type": "object",
                "properties": {"content": {"type": "string", "description": "The fact."}},
                "required": ["content"],
                "additionalProperties": False,
            },
        ),
        ToolSpec(
            name=RECALL,
            description="Look up facts kept in earlier conversations, most relevant first.",
            parameters={
                "type": "object",
                "properties": {"query": {"type": "string", "description": "What to look up."}},
                "required": ["query"],
                "additionalProperties": False,
            },
        ),
    ]


def _text_argument(call: ToolCall, name: str) -> str:
    value = call.arguments.get(name)
    if not isinstance(value, str) or not value.strip():
        raise NodeError("invalid_input", f"{call.name} needs a non-empty string {name!r}")
    if len(value) > MAX_MEMORY_CHARS:
        raise NodeError("invalid_input", f"{name!r} is longer than {MAX_MEMORY_CHARS} characters")
    return value.strip()


async def call_memory_tool(ctx: NodeContext, node: AgentNode, call: ToolCall, key: str) -> Any:
    """Run `remember` (one memory per call key, so a re-run step keeps it once) or `recall`.
    Raises NodeError: bad arguments (kind invalid_input) and the port's errors."""
    assert node.memory is not None and node.memory.long_term is not None
    long_term = node.memory.long_term
    port = ctx.ports.need_memory()
    if call.name == REMEMBER:
        content = _text_argument(call, "content")
        memory_id = await port.remember(content, scope=long_term.scope, key=key)
        return {"remembered": content, "id": memory_id}
    query = _text_argument(call, "query")
    found = await port.recall(query, scope=long_term.scope, limit=long_term.recall_limit)
    return {"memories": found}
