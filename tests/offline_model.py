"""The suite never calls a real model: apps built for tests answer with this fake."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
from pydantic_ai.models.function import AgentInfo, FunctionModel


def _reply(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    return ModelResponse(parts=[TextPart("offline test reply")])


async def _stream(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str]:
    for piece in ("offline ", "test ", "reply"):
        yield piece


def offline_model_factory(provider: Any, model: str) -> FunctionModel:
    """A pydantic-ai model for any provider/model; tests of the real wire set None instead."""
    return FunctionModel(_reply, stream_function=_stream)


def use_offline_models(app: Any) -> Any:
    app.state.runtime.llm_model_factory = offline_model_factory
    return app
