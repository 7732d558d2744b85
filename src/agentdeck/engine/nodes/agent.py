"""`agent`: a tool-calling loop bounded by `max_iterations`.

Tool failures are reported back to the model as the tool's result so it can recover; only
port-level model and retrieval errors fail the node. Other agents are offered as tools
`agent_<name>`; with `knowledge_bases` the built-in `knowledge_search` (see `knowledge_tool`).
A citing node answers `{text, citations}`: its `[n]` markers resolved against the passages of
the retrieval nodes it reads and of its searches, numbered in one book.

Tool calls are numbered across the loop; call `n` has the idempotency key
`<run_id>:<node_id>:<n>`, which the ToolPort forwards and under which it records the
outcome (a step re-run after a crash gets the recorded result, not a second call). A call
of a tool in `approve` interrupts the run before it is made (see `approval`).

With `stream` (the default) the model's tokens go out as `message.delta` events
(`{node, delta, iteration}`), as an llm node's do. `prompt` may be a stored prompt
(`{ref, label | version, variables}`, resolved as for llm nodes; its system text stands in
for missing `instructions`). `memory:` adds the thread's conversation and the long-term
`remember` / `recall` tools (see `_memory`).

The loop (`drive_loop`) makes its model and tool calls through `LoopCalls`: here they are
made in place (`InPlaceCalls`); the Temporal engine drives the same loop in its workflow and
makes each call an activity. `start_loop` and `finish_loop` are the I/O before and after.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from agentdeck.engine.errors import Interrupt, NodeError
from agentdeck.engine.nodes._memory import (
    MEMORY_TOOLS,
    call_memory_tool,
    memory_tools,
    save_turn,
    thread_history,
)
from agentdeck.engine.nodes._output import structured_output
from agentdeck.engine.nodes.approval import LoopState, Resumed, interrupt_payload
from agentdeck.engine.nodes.citations import CitationBook
from agentdeck.engine.nodes.context import NodeContext, NodeResult
from agentdeck.engine.nodes.knowledge_tool import (
    KNOWLEDGE_TOOL,
    BadArguments,
    KnowledgeSearch,
    knowledge_tool,
)
from agentdeck.engine.nodes.llm import _stored_prompt
from agentdeck.engine.nodes.subagent import call_subagent
from agentdeck.engine.ports import (
    ChatMessage,
    ChatRequest,
    ChatResult,
    LLMPort,
    ToolCall,
    ToolSpec,
)
from agentdeck.engine.spec import AgentNode

AGENT_TOOL_PREFIX = "agent_"


def agent_tool(name: str) -> ToolSpec:
    return ToolSpec(
        name=AGENT_TOOL_PREFIX + name,
        description=f"Run the agent {name!r}; the arguments are its inputs.",
        parameters={"type": "object", "additionalProperties": True},
    )


class Offer:
    """The tools the model is shown, and which of their names need approval (model-facing
    name -> the `<toolset>.<tool>` of the definition)."""

    def __init__(self) -> None:
        self.specs: list[ToolSpec] = []
        self.tools: set[str] = set()
        self.approve: dict[str, str] = {}
        self.memory = False  # `remember` and `recall` are offered

    @classmethod
    async def of(cls, ctx: NodeContext, node: AgentNode) -> Offer:
        offer = cls()
        if node.tools:
            port = ctx.ports.need_tools()
            offer.specs.extend(await port.list_tools(node.tools))
            offer.tools = {spec.name for spec in offer.specs}
            for ref in node.approve:
                for spec in await port.list_tools([ref]):
                    offer.approve[spec.name] = ref
        offer.specs.extend(agent_tool(name) for name in node.agents)
        if node.memory is not None and node.memory.long_term is not None:
            offer.specs.extend(memory_tools())
            offer.memory = True
        return offer


async def _call(ctx: NodeContext, node: AgentNode, offer: Offer, call: ToolCall, key: str) -> Any:
    agent = call.name.removeprefix(AGENT_TOOL_PREFIX)
    if call.name.startswith(AGENT_TOOL_PREFIX) and agent in node.agents:
        return await call_subagent(ctx, agent, call.arguments, key)
    if offer.memory and call.name in MEMORY_TOOLS:
        return await call_memory_tool(ctx, node, call, key)
    if call.name not in offer.tools:
        raise NodeError("tool", f"the model called {call.name!r}, which is not offered")
    return await ctx.ports.need_tools().call(call.name, call.arguments, idempotency_key=key)


async def _run_tool_call(
    ctx: NodeContext,
    node: AgentNode,
    offer: Offer,
    call: ToolCall,
    index: int,
    knowledge: KnowledgeSearch | None,
    rejected: str | None = None,
) -> ChatMessage:
    base = {"node": node.id, "call_id": call.id, "name": call.name, "index": index}
    await ctx.emit("tool.called", {**base, "arguments": call.arguments})
    search = knowledge if call.name == KNOWLEDGE_TOOL else None
    try:
        if rejected is not None:
            raise NodeError("tool", rejected, detail={"rejected": True})
        if search is not None:
            result, content = await search(call.arguments)
        else:
            result = await _call(ctx, node, offer, call, f"{ctx.idempotency_key}:{index}")
            content = result if isinstance(result, str) else json.dumps(result, default=str)
    except NodeError as exc:
        await ctx.emit("tool.result", {**base, "error": exc.to_dict()})
        if search is not None and not isinstance(exc, BadArguments):
            raise  # a missing knowledge base or a failed search: the model cannot fix it
        content = json.dumps({"error": exc.message})
    else:
        await ctx.emit("tool.result", {**base, "result": result})
    return ChatMessage("tool", content, tool_call_id=call.id)


def _decide(call: ToolCall, decision: dict[str, Any]) -> tuple[ToolCall, str | None]:
    """The call to make after a person's decision, or the rejection the model is told."""
    action = decision["action"]
    if action == "reject":
        reason = decision.get("reason")
        return call, "a reviewer rejected this call" + (f": {reason}" if reason else "")
    if action == "edit":
        return ToolCall(call.id, call.name, dict(decision["arguments"])), None
    return call, None


class LoopCalls(Protocol):
    """The calls an agent loop makes: one model turn, one tool call."""

    async def model(self, request: ChatRequest, iteration: int) -> ChatResult:
        """The model's answer to ``request`` (tokens streamed as the node says)."""
        ...

    async def tool(self, call: ToolCall, index: int, rejected: str | None) -> ChatMessage:
        """Run call number ``index`` (or tell the model ``rejected``); the tool message."""
        ...


class InPlaceCalls:
    """LoopCalls made in this process, through the node's ports."""

    def __init__(self, ctx: NodeContext, node: AgentNode, offer: Offer, book: CitationBook) -> None:
        self.ctx, self.node, self.offer = ctx, node, offer
        self.knowledge = KnowledgeSearch(ctx, node, book) if node.knowledge_bases else None

    async def model(self, request: ChatRequest, iteration: int) -> ChatResult:
        return await _ask(self.ctx, self.node, self.ctx.ports.need_llm(), request, iteration)

    async def tool(self, call: ToolCall, index: int, rejected: str | None) -> ChatMessage:
        return await _run_tool_call(
            self.ctx, self.node, self.offer, call, index, self.knowledge, rejected
        )


async def _run_queue(
    node: AgentNode,
    calls: LoopCalls,
    approve: Mapping[str, str],
    state: LoopState,
    decision: dict[str, Any] | None,
) -> None:
    """Run the turn's remaining calls in order; the first one needing approval without a
    decision raises Interrupt (the state then holds it and the calls after it)."""
    while state.queue:
        call, rejected = state.queue[0], None
        ref = approve.get(call.name)
        if ref is not None:
            if decision is None:
                raise Interrupt(interrupt_payload(node.id, ref, call, state))
            call, rejected = _decide(call, decision)
            decision = None
        index = state.next_index
        state.queue.pop(0)
        state.next_index += 1
        message = await calls.tool(call, index, rejected)
        state.messages.append(message)


async def _ask(
    ctx: NodeContext, node: AgentNode, llm: LLMPort, request: ChatRequest, iteration: int
) -> ChatResult:
    if not node.stream:
        return await llm.chat(request)

    async def on_delta(delta: str) -> None:
        data = {"node": node.id, "delta": delta, "iteration": iteration}
        await ctx.emit_ephemeral("message.delta", data)

    return await llm.stream(request, on_delta)


async def _first_turn(ctx: NodeContext, node: AgentNode) -> LoopState:
    """The loop's start: instructions, the thread's history (with `memory.thread`), and
    the prompt as the user message."""
    config = ctx.config
    if isinstance(config.get("prompt"), dict):
        config = await _stored_prompt(ctx, config["prompt"])
    state = LoopState()
    instructions = config.get("instructions") or config.get("system")
    if instructions:
        state.messages.append(ChatMessage("system", str(instructions)))
    prompt = ChatMessage("user", str(config["prompt"]))
    if node.memory is not None and node.memory.thread is not None:
        history, usage = await thread_history(ctx, node, [prompt])
        state.messages.extend(history)
        state.usage = state.usage + usage
    state.messages.append(prompt)
    return state


@dataclass(slots=True)
class LoopStart:
    """Where a loop begins: the tools offered, the passages it may cite, its state (fresh,
    or an approval's checkpoint) and the person's decision when resuming one."""

    offer: Offer
    specs: list[ToolSpec]
    book: CitationBook
    state: LoopState
    decision: dict[str, Any] | None


async def start_loop(ctx: NodeContext) -> LoopStart:
    """The tools, the first turn or the resumed checkpoint. Raises the ports' NodeErrors
    (no LLM port, an unknown tool, a prompt or memory failure) and ResumeError."""
    node = ctx.node
    assert isinstance(node, AgentNode)
    ctx.ports.need_llm()
    offer = await Offer.of(ctx, node)
    specs = offer.specs
    if node.knowledge_bases:
        specs.append(knowledge_tool(node))
    resumed = Resumed.of(ctx.resume)
    if resumed is not None:
        return LoopStart(offer, specs, CitationBook(ctx.sources), resumed.state, resumed.decision)
    state = await _first_turn(ctx, node)
    return LoopStart(offer, specs, CitationBook(ctx.sources), state, None)


async def drive_loop(
    node: AgentNode,
    calls: LoopCalls,
    state: LoopState,
    *,
    specs: list[ToolSpec],
    approve: Mapping[str, str],
    decision: dict[str, Any] | None,
    key: str,
    cancelled: Callable[[], bool],
) -> ChatResult:
    """Ask the model, run the tools it calls, feed results back, until it answers: the
    final model result (``state`` holds the conversation and usage). Deterministic apart
    from ``calls``.

    Raises NodeError(kind="invalid_output") when no answer comes within max_iterations,
    NodeError(kind="cancelled"), the calls' errors, and Interrupt before a call that needs
    approval.
    """
    while True:
        await _run_queue(node, calls, approve, state, decision)
        decision = None
        if state.iteration >= node.max_iterations:
            break
        if cancelled():
            raise NodeError("cancelled", "run cancelled")
        request = ChatRequest(
            model=node.model,
            messages=tuple(state.messages),
            tools=tuple(specs),
            output_schema=node.output_schema,
            temperature=node.temperature,
            idempotency_key=f"{key}:{state.iteration}",
        )
        result = await calls.model(request, state.iteration)
        state.iteration += 1
        state.usage = state.usage + result.usage
        if not result.tool_calls:
            return result
        state.messages.append(ChatMessage("assistant", result.text, tool_calls=result.tool_calls))
        state.queue = list(result.tool_calls)
    raise NodeError("invalid_output", f"no final answer after {node.max_iterations} iterations")


async def run_agent(ctx: NodeContext) -> NodeResult:
    """Loop: ask the model, run the tools it calls, feed results back, until it answers.

    Raises NodeError(kind="invalid_output") when no answer comes within max_iterations,
    the LLM port's errors, the RetrievalPort's errors of a `knowledge_search` call, the
    PromptPort's and the MemoryPort's errors, and Interrupt before a call that needs
    approval.
    """
    node = ctx.node
    assert isinstance(node, AgentNode)
    start = await start_loop(ctx)
    result = await drive_loop(
        node,
        InPlaceCalls(ctx, node, start.offer, start.book),
        start.state,
        specs=start.specs,
        approve=start.offer.approve,
        decision=start.decision,
        key=ctx.idempotency_key,
        cancelled=ctx.cancel.is_set,
    )
    return await finish_loop(ctx, node, start.state, start.book, result)


async def finish_loop(
    ctx: NodeContext, node: AgentNode, state: LoopState, book: CitationBook, result: ChatResult
) -> NodeResult:
    """The node's output; the turn saved to the thread first (with `memory.thread`)."""
    output: Any
    if ctx.cite and node.output_schema is None:
        text, citations = book.cite(result.text)
        output, answer = {"text": text, "citations": citations}, text
    else:
        output = structured_output(result, node.output_schema)
        answer = output if isinstance(output, str) else json.dumps(output, default=str)
    if node.memory is not None and node.memory.thread is not None:
        await save_turn(ctx, state.messages, answer)
    return NodeResult(output=output, usage=state.usage)
