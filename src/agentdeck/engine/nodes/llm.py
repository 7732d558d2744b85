"""`llm`: one model call, streamed as `message.delta` events when `stream` is on."""

from __future__ import annotations

from typing import Any

import jsonschema

from agentdeck.engine import templates
from agentdeck.engine.errors import NodeError, TemplateError
from agentdeck.engine.nodes._output import structured_output
from agentdeck.engine.nodes.citations import cited_output
from agentdeck.engine.nodes.context import NodeContext, NodeResult
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


async def _stored_prompt(ctx: NodeContext, ref: dict[str, Any]) -> dict[str, Any]:
    """The config with a stored prompt resolved, checked and rendered with its variables
    (its version recorded as a `prompt.resolved` event). Raises NodeError."""
    resolved = await ctx.ports.need_prompts().resolve(
        str(ref["ref"]), label=ref.get("label"), version=ref.get("version")
    )
    variables = dict(ref.get("variables") or {})
    if resolved.variables_schema is not None:
        try:
            jsonschema.validate(variables, resolved.variables_schema)
        except jsonschema.ValidationError as exc:
            raise NodeError(
                "invalid_input", f"prompt {resolved.name!r} variables: {exc.message}"
            ) from exc
    try:
        text = await templates.render_async(resolved.template, variables)
        system = None
        if resolved.system is not None:
            system = await templates.render_async(resolved.system, variables)
    except TemplateError as exc:
        raise NodeError("template", f"prompt {resolved.name!r}: {exc}") from exc
    await ctx.emit(
        "prompt.resolved",
        {"node": ctx.node.id, "prompt": resolved.name, "version": resolved.version,
         "label": resolved.label},
    )  # fmt: skip
    config = {**ctx.config, "prompt": text}
    if system is not None and not config.get("system"):
        config["system"] = system
    return config


async def run_llm(ctx: NodeContext) -> NodeResult:
    """Call the model; output is the text, or the parsed object when output_schema is set,
    or `{text, citations}` for a node that cites passages (see `spec.CITATIONS_DOC`).

    Raises NodeError from the port, or kind `invalid_output` for a reply failing the schema.
    """
    node = ctx.node
    assert isinstance(node, LlmNode)
    llm = ctx.ports.need_llm()
    config = ctx.config
    if isinstance(config.get("prompt"), dict):
        config = await _stored_prompt(ctx, config["prompt"])
    request = ChatRequest(
        model=node.model,
        messages=build_messages(config),
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
