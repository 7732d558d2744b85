"""Translation between the gateway's OpenAI-like messages and pydantic-ai's message classes."""

from __future__ import annotations

import json
from typing import Any

from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelRequestPart,
    ModelResponse,
    ModelResponsePart,
    SystemPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)

from agentdeck.llm.errors import ProviderRequestError
from agentdeck.llm.types import ChatMessage, ToolCall, Usage

OUTPUT_TOOL_NAME = "final_result"


def to_model_messages(messages: list[ChatMessage]) -> list[ModelMessage]:
    """Group system/user/tool messages into requests and assistant messages into responses."""
    tool_names: dict[str, str] = {}
    out: list[ModelMessage] = []
    pending: list[ModelRequestPart] = []
    for message in messages:
        if message.role == "assistant":
            if pending:
                out.append(ModelRequest(parts=pending))
                pending = []
            out.append(_assistant(message, tool_names))
        elif message.role == "system":
            pending.append(SystemPromptPart(content=message.content or ""))
        elif message.role == "user":
            pending.append(UserPromptPart(content=message.content or ""))
        else:
            pending.append(_tool_return(message, tool_names))
    if pending:
        out.append(ModelRequest(parts=pending))
    if not out or not isinstance(out[-1], ModelRequest):
        raise ProviderRequestError("The conversation must end with a user or tool message")
    return out


def _assistant(message: ChatMessage, tool_names: dict[str, str]) -> ModelResponse:
    parts: list[ModelResponsePart] = []
    if message.content:
        parts.append(TextPart(content=message.content))
    for call in message.tool_calls:
        tool_names[call.id] = call.name
        parts.append(ToolCallPart(tool_name=call.name, args=call.arguments, tool_call_id=call.id))
    return ModelResponse(parts=parts)


def _tool_return(message: ChatMessage, tool_names: dict[str, str]) -> ToolReturnPart:
    if not message.tool_call_id:
        raise ProviderRequestError("A tool message needs a tool_call_id")
    name = message.name or tool_names.get(message.tool_call_id)
    if name is None:
        raise ProviderRequestError("A tool message answers an unknown tool_call_id")
    return ToolReturnPart(
        tool_name=name, content=message.content or "", tool_call_id=message.tool_call_id
    )


def tool_call_of(part: ToolCallPart) -> ToolCall:
    """Our `ToolCall` for a pydantic-ai tool call part (arguments parsed, never None)."""
    try:
        args: dict[str, Any] = part.args_as_dict()
    except (ValueError, TypeError):
        args = {"_raw": part.args if isinstance(part.args, str) else json.dumps(part.args)}
    return ToolCall(id=part.tool_call_id, name=part.tool_name, arguments=args)


def text_of(response: ModelResponse) -> str:
    """All text parts of a response, joined."""
    return "".join(p.content for p in response.parts if isinstance(p, TextPart))


def tool_calls_of(response: ModelResponse) -> list[ToolCall]:
    """The caller's tool calls in a response (the structured-output tool excluded)."""
    return [
        tool_call_of(p)
        for p in response.parts
        if isinstance(p, ToolCallPart) and p.tool_name != OUTPUT_TOOL_NAME
    ]


def add_usage(total: Usage, response: ModelResponse) -> Usage:
    """`total` plus the usage reported on `response`."""
    usage = response.usage
    return Usage(
        input_tokens=total.input_tokens + usage.input_tokens,
        output_tokens=total.output_tokens + usage.output_tokens,
        cached_tokens=total.cached_tokens + usage.cache_read_tokens,
    )
