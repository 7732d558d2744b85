"""Playground shapes: POST /api/v1/llm/chat."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from jsonschema import Draft202012Validator, SchemaError
from pydantic import BaseModel, ConfigDict, Field, field_validator


class PlaygroundMessage(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"role": "user", "content": "Hello!"}}
    )

    role: Literal["system", "user", "assistant", "tool"]
    content: str = Field(max_length=200_000)
    tool_call_id: str | None = Field(default=None, max_length=200)


def _json_schema(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """Refuse a document that is not a valid JSON Schema (Draft 2020-12)."""
    if value is not None:
        try:
            Draft202012Validator.check_schema(value)
        except SchemaError as exc:
            raise ValueError(f"not a valid JSON Schema: {exc.message}") from None
    return value


class PlaygroundTool(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            }
        },
    )

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str = Field(default="", max_length=2000)
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})

    _check_parameters = field_validator("parameters")(_json_schema)


class ChatIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "model": "default",
                "messages": [{"role": "user", "content": "Say hello in one word."}],
                "stream": False,
                "max_tokens": 16,
            }
        },
    )

    model: str = Field(
        default="default",
        min_length=1,
        max_length=300,
        description="An alias (`default`, `fast`, ...) or `provider/model`.",
    )
    messages: list[PlaygroundMessage] = Field(min_length=1, max_length=500)
    stream: bool = False
    response_format: dict[str, Any] | None = Field(
        default=None, description="A JSON Schema the answer must satisfy."
    )
    tools: list[PlaygroundTool] = Field(default_factory=list, max_length=64)
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1, le=200_000)
    space_id: uuid.UUID | None = Field(default=None, description="Counts against this space.")
    cache: bool = True

    _check_response_format = field_validator("response_format")(_json_schema)


class UsageOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"example": {"input_tokens": 12, "output_tokens": 3, "cached_tokens": 0}}
    )

    input_tokens: int
    output_tokens: int
    cached_tokens: int


class ChatOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "message": "Hello!",
                "parsed": None,
                "tool_calls": [],
                "model": "smollm2-135m-instruct",
                "provider": "local",
                "usage": {"input_tokens": 12, "output_tokens": 3, "cached_tokens": 0},
                "cost_usd": 0.0,
                "cache_hit": False,
                "attempts": [],
            }
        }
    )

    message: str
    parsed: Any = None
    tool_calls: list[dict[str, Any]]
    model: str
    provider: str
    usage: UsageOut
    cost_usd: float
    cache_hit: bool
    attempts: list[dict[str, Any]]
