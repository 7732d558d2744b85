"""`agent`: a tool-calling loop bounded by `max_iterations`.

Tool failures are reported back to the model as the tool's result so it can recover; only
port-level model and retrieval errors fail the node. Other agents are offered as tools
`agent_<name>`; with `knowledge_bases` the built-in `knowledge_search` (see `_knowledge`).
A citing node answers `{text, citations}`: its `[n]` markers resolved against the passages of
the retrieval nodes it reads and of its searches, numbered in one book.
"""

from __future__ import annotations

import json
from typing import Any

from agentdeck.engine.errors import NodeError
from agentdeck.engine.journal import NO_USAGE
from agentdeck.engine.nodes._citations import CitationBook
from agentdeck.engine.nodes._context import NodeContext, NodeResult
from agentdeck.engine.nodes._knowledge import (
    KNOWLEDGE_TOOL,
    BadArguments,
    KnowledgeSearch,
    knowledge_tool,
)
from agentdeck.engine.nodes._output import structured_output
from agentdeck.engine.nodes.subagent import call_subagent
from agentdeck.engine.ports import ChatMessage, ChatRequest, ToolCall, ToolSpec
from agentdeck.engine.spec import AgentNode

AGENT_TOOL_PREFIX = "agent_"


def agent_tool(name: str) -> ToolSpec:
    return ToolSpec(
        name=AGENT_TOOL_PREFIX + name,
        description=f"Run the agent {name!r}; the arguments are its inputs.",
        parameters={"type": "object", "additionalProperties": True},
    )


async def _call(ctx: NodeContext, node: AgentNode, call: ToolCall) -> Any:
    key = f"{ctx.idempotency_key}:{call.id}"
    agent = call.name.removeprefix(AGENT_TOOL_PREFIX)
    if call.name.startswith(AGENT_TOOL_PREFIX) and agent in node.agents:
        return await call_subagent(ctx, agent, call.arguments, key)
    if call.name not in node.tools:
        raise NodeError("tool", f"the model called {call.name!r}, which is not offered")
    return await ctx.ports.need_tools().call(call.name, call.arguments, idempotency_key=key)


async def _run_tool_call(
    ctx: NodeContext, node: AgentNode, call: ToolCall, knowledge: KnowledgeSearch | None
) -> ChatMessage:
    base = {"node": node.id, "call_id": call.id, "name": call.name}
    await ctx.emit("tool.called", {**base, "arguments": call.arguments})
    search = knowledge if call.name == KNOWLEDGE_TOOL else None
    try:
        if search is not None:
            result, content = await search(call.arguments)
        else:
            result = await _call(ctx, node, call)
            content = result if isinstance(result, str) else json.dumps(result, default=str)
    except NodeError as exc:
        await ctx.emit("tool.result", {**base, "error": exc.to_dict()})
        if search is not None and not isinstance(exc, BadArguments):
            raise  # a missing knowledge base or a failed search: the model cannot fix it
        content = json.dumps({"error": exc.message})
    else:
        await ctx.emit("tool.result", {**base, "result": result})
    return ChatMessage("tool", content, tool_call_id=call.id)


async def run_agent(ctx: NodeContext) -> NodeResult:
    """Loop: ask the model, run the tools it calls, feed results back, until it answers.

    Raises NodeError(kind="invalid_output") when no answer comes within max_iterations,
    the LLM port's errors, and the RetrievalPort's errors of a `knowledge_search` call.
    """
    node = ctx.node
    assert isinstance(node, AgentNode)
    llm = ctx.ports.need_llm()
    specs: list[ToolSpec] = []
    if node.tools:
        specs.extend(await ctx.ports.need_tools().list_tools(node.tools))
    specs.extend(agent_tool(name) for name in node.agents)
    book = CitationBook(ctx.sources)
    knowledge = None
    if node.knowledge_bases:
        specs.append(knowledge_tool(node))
        knowledge = KnowledgeSearch(ctx, node, book)
    messages: list[ChatMessage] = []
    if ctx.config.get("instructions"):
        messages.append(ChatMessage("system", str(ctx.config["instructions"])))
    messages.append(ChatMessage("user", str(ctx.config["prompt"])))
    usage = NO_USAGE
    for iteration in range(node.max_iterations):
        if ctx.cancel.is_set():
            raise NodeError("cancelled", "run cancelled")
        request = ChatRequest(
            model=node.model,
            messages=tuple(messages),
            tools=tuple(specs),
            output_schema=node.output_schema,
            temperature=node.temperature,
            idempotency_key=f"{ctx.idempotency_key}:{iteration}",
        )
        result = await llm.chat(request)
        usage = usage + result.usage
        if not result.tool_calls:
            if ctx.cite and node.output_schema is None:
                text, citations = book.cite(result.text)
                return NodeResult(output={"text": text, "citations": citations}, usage=usage)
            output = structured_output(result, node.output_schema)
            return NodeResult(output=output, usage=usage)
        messages.append(ChatMessage("assistant", result.text, tool_calls=result.tool_calls))
        for call in result.tool_calls:
            messages.append(await _run_tool_call(ctx, node, call, knowledge))
    raise NodeError("invalid_output", f"no final answer after {node.max_iterations} iterations")
