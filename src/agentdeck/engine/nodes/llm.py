"""`llm`: one model call, streamed as `message.delta` events when `stream` is on."""

from __future__ import annotations

from typing import Any

from agentdeck.engine.nodes._citations import cited_output
from agentdeck.engine.nodes._context import NodeContext, NodeResult
from agentdeck.engine.nodes._output import structured_output
from agentdeck.engine.ports import ChatMessage, ChatRequest
from agentdeck.engine.spec import LlmNode


def build_messages(config: dict[str, Any]) -> tuple[ChatMessage, ...]:
    """system, then templated `messages`, then `prompt` as the last user message."""
    messages: list[ChatMessage] = []
    if config.get("system"):
        messages.append(ChatMessage("system", str(config["system"])))
    for message in config.get("messages") or ():
        messages.append(ChatMessage(message["role"], str(message["content"])))
    if config.get("prompt") is not None:
        messages.append(ChatMessage("user", str(config["prompt"])))
    return tuple(messages)


async def run_llm(ctx: NodeContext) -> NodeResult:
    """Call the model; output is the text, or the parsed object when output_schema is set,
    or `{text, citations}` for a node that cites passages (see `spec.CITATIONS_DOC`).

    Raises NodeError from the port, or kind `invalid_output` for a reply failing the schema.
    """
    node = ctx.node
    assert isinstance(node, LlmNode)
    llm = ctx.ports.need_llm()
    request = ChatRequest(
        model=node.model,
        messages=build_messages(ctx.config),
        output_schema=node.output_schema,
        temperature=node.temperature,
        max_tokens=node.max_tokens,
        idempotency_key=ctx.idempotency_key,
    )
    if node.stream:

        async def on_delta(delta: str) -> None:
            await ctx.emit_ephemeral("message.delta", {"node": node.id, "delta": delta})

        result = await llm.stream(request, on_delta)
    else:
        result = await llm.chat(request)
    if ctx.cite and node.output_schema is None:
        return NodeResult(output=cited_output(result.text, ctx.sources), usage=result.usage)
    return NodeResult(output=structured_output(result, node.output_schema), usage=result.usage)
