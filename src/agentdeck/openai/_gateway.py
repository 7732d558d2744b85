"""A model alias on /v1 goes straight through the org's gateway (fallback, cache, budgets,
usage rows): OpenAI's request becomes the gateway's `ChatRequest` and back."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from agentdeck.errors import InvalidInput
from agentdeck.gateway.service import OrgLLM
from agentdeck.llm import ChatMessage, ChatRequest, LLMError, StreamEvent, ToolCall, ToolSpec
from agentdeck.llm.types import Role
from agentdeck.openai._errors import openai_error
from agentdeck.openai._format import ChunkWriter
from agentdeck.openai.schemas import ChatCompletionIn, ContentPart, MessageIn

_ROLES: dict[str, Role] = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
    "tool": "tool",
}


def text_of(content: str | list[ContentPart] | None, field: str) -> str:
    """The text of a message's content; parts other than text are refused (422 -> 400)."""
    if content is None or isinstance(content, str):
        return content or ""
    texts = []
    for part in content:
        if part.type not in ("text", "input_text", "output_text") or part.text is None:
            raise InvalidInput(
                f"content parts of type '{part.type}' are not supported", field=field
            )
        texts.append(part.text)
    return "".join(texts)


def _arguments(raw: str, field: str) -> dict[str, Any]:
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        raise InvalidInput("tool call arguments are not JSON", field=field) from None
    if not isinstance(value, dict):
        raise InvalidInput("tool call arguments must be a JSON object", field=field)
    return value


def gateway_messages(messages: list[MessageIn]) -> list[ChatMessage]:
    out = []
    for i, m in enumerate(messages):
        calls = [
            ToolCall(
                id=c.id,
                name=c.function.name,
                arguments=_arguments(c.function.arguments, f"messages.{i}.tool_calls.{j}"),
            )
            for j, c in enumerate(m.tool_calls or ())
        ]
        out.append(
            ChatMessage(
                role=_ROLES[m.role],
                content=text_of(m.content, f"messages.{i}.content"),
                tool_calls=calls,
                tool_call_id=m.tool_call_id,
                name=m.name if m.role == "tool" else None,
            )
        )
    return out


def _tool_choice(value: str | dict[str, Any] | None) -> Any:
    if value is None or value in ("auto", "none", "required"):
        return value
    if isinstance(value, dict):
        name = (value.get("function") or {}).get("name")
        if isinstance(name, str):
            return [name]
    raise InvalidInput(
        "tool_choice must be auto, none, required or a function", field="tool_choice"
    )


def _response_format(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None or value.get("type") == "text":
        return None
    if value.get("type") == "json_object":
        return {"type": "object"}
    if value.get("type") == "json_schema":
        schema = (value.get("json_schema") or {}).get("schema")
        if isinstance(schema, dict):
            return schema
    raise InvalidInput(
        "response_format must be text, json_object or json_schema with a schema",
        field="response_format",
    )


def chat_request(body: ChatCompletionIn) -> ChatRequest:
    """The gateway request of an OpenAI chat completion request."""
    return ChatRequest(
        model=body.model,
        messages=gateway_messages(body.messages),
        tools=[
            ToolSpec(
                name=t.function.name,
                description=t.function.description,
                parameters_json_schema=t.function.parameters,
            )
            for t in body.tools or ()
        ],
        tool_choice=_tool_choice(body.tool_choice),
        response_format=_response_format(body.response_format),
        temperature=body.temperature,
        max_tokens=body.max_completion_tokens or body.max_tokens,
    )


def answer_text(message: str, parsed: Any) -> str:
    if message or parsed is None:
        return message
    return json.dumps(parsed)


async def stream_chunks(
    llm: OrgLLM, request: ChatRequest, writer: ChunkWriter
) -> AsyncIterator[str]:
    """The gateway's stream as chunk frames. Resolution and budget errors raise before the
    first frame (so they are answered with a status); later ones end the stream with an
    error document."""
    stream = aiter(llm.stream(request))
    try:
        first: StreamEvent | None = await anext(stream)
    except StopAsyncIteration:
        first = None

    async def frames() -> AsyncIterator[str]:
        event = first
        yield writer.start()
        try:
            while event is not None:
                if event.type == "delta":
                    if event.text:
                        yield writer.text(event.text)
                elif event.type == "tool_call":
                    yield writer.tool_call(event.tool_call)
                else:
                    yield writer.finish(event.result.usage)
                    return
                event = await anext(stream, None)
            yield writer.finish(None)
        except LLMError as exc:
            yield writer.error(openai_error(exc)[1])

    return frames()
