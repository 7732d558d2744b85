"""Request shapes of the OpenAI-compatible surface (/v1), as the `openai` SDK sends them.

Unknown fields are accepted and ignored (clients send `n`, `seed`, `top_p`, ...), so a
client written for OpenAI works unchanged. Answers are built as plain dicts in
`_format.py`: they are OpenAI's shapes, documented by OpenAI.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ContentPart(_Open):
    model_config = ConfigDict(
        extra="allow", json_schema_extra={"example": {"type": "text", "text": "Hello"}}
    )

    type: str = Field(max_length=50)
    text: str | None = Field(default=None, max_length=200_000)


class FunctionCall(_Open):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={"example": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}},
    )

    name: str = Field(max_length=200)
    arguments: str = Field(default="{}", max_length=200_000)


class MessageToolCall(_Open):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "example": {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": "{}"},
            }
        },
    )

    id: str = Field(max_length=200)
    type: Literal["function"] = "function"
    function: FunctionCall


class MessageIn(_Open):
    model_config = ConfigDict(
        extra="allow", json_schema_extra={"example": {"role": "user", "content": "Hello"}}
    )

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = Field(default=None)
    name: str | None = Field(default=None, max_length=200)
    tool_calls: list[MessageToolCall] | None = Field(default=None, max_length=128)
    tool_call_id: str | None = Field(default=None, max_length=200)


class FunctionDef(_Open):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={"example": {"name": "get_weather", "parameters": {"type": "object"}}},
    )

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str = Field(default="", max_length=4000)
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})


class ToolIn(_Open):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "example": {
                "type": "function",
                "function": {"name": "get_weather", "parameters": {"type": "object"}},
            }
        },
    )

    type: Literal["function"] = "function"
    function: FunctionDef


class StreamOptions(_Open):
    model_config = ConfigDict(extra="allow", json_schema_extra={"example": {"include_usage": True}})

    include_usage: bool = False


class ChatCompletionIn(_Open):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "example": {
                "model": "default",
                "messages": [{"role": "user", "content": "Say hello."}],
                "stream": False,
            }
        },
    )

    model: str = Field(min_length=1, max_length=300)
    messages: list[MessageIn] = Field(min_length=1, max_length=1000)
    stream: bool = False
    stream_options: StreamOptions | None = None
    tools: list[ToolIn] | None = Field(default=None, max_length=128)
    tool_choice: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    temperature: float | None = Field(default=None, ge=0, le=2)
    user: str | None = Field(default=None, max_length=500)
    metadata: dict[str, Any] | None = None


class InputItem(_Open):
    model_config = ConfigDict(
        extra="allow", json_schema_extra={"example": {"role": "user", "content": "Hello"}}
    )

    type: str | None = Field(default=None, max_length=50)
    role: Literal["system", "developer", "user", "assistant"] = "user"
    content: str | list[ContentPart] = ""


class ResponseIn(_Open):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "example": {"model": "agent:support", "input": "My printer is on fire."}
        },
    )

    model: str = Field(min_length=1, max_length=300)
    input: str | list[InputItem] = Field(max_length=1000)
    instructions: str | None = Field(default=None, max_length=200_000)
    previous_response_id: str | None = Field(default=None, max_length=100)
    stream: bool = False
    tools: list[dict[str, Any]] | None = Field(default=None, max_length=128)
    max_output_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    temperature: float | None = Field(default=None, ge=0, le=2)
    user: str | None = Field(default=None, max_length=500)
    metadata: dict[str, Any] | None = None
