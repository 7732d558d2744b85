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
    """``app`` answers with the offline test model and embeds by feature hashing: no test
    loads a real model unless it opts in (``registry_for(runtime).embedder_factory = None``)."""
    from agentdeck.knowledge.registry import registry_for
    from tests.knowledge.support import hashing_factory

    app.state.runtime.llm_model_factory = offline_model_factory
    registry_for(app.state.runtime).embedder_factory = hashing_factory
    return app
