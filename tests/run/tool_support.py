"""Shared pieces of the run suites with tools: a scripted model behind the org's gateway
(pydantic-ai's FunctionModel at the seam) and a worker that runs with it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, DeltaToolCalls, FunctionModel

from agentdeck.app import build_worker
from agentdeck.run.services import attach, services_for
from agentdeck.run.settings import RunSettings
from agentdeck.runtime import Runtime

Turn = list[tuple[str, dict[str, Any]]]


def tool_returns(messages: list[ModelMessage]) -> list[str]:
    """The tool results the model was given, in order (their text)."""
    parts = [p for m in messages if isinstance(m, ModelRequest) for p in m.parts]
    return [str(p.content) for p in parts if isinstance(p, ToolReturnPart)]


Reply = Callable[[list[ModelMessage], AgentInfo], ModelResponse]


def streamed(reply: Reply) -> Callable[..., AsyncIterator[str | DeltaToolCalls]]:
    """A FunctionModel stream function giving ``reply``'s turns as a stream (agent nodes
    stream their model calls): text as text deltas, tool calls as tool-call deltas."""

    async def stream(
        messages: list[ModelMessage], info: AgentInfo
    ) -> AsyncIterator[str | DeltaToolCalls]:
        for i, part in enumerate(reply(messages, info).parts):
            if isinstance(part, ToolCallPart):
                call = DeltaToolCall(
                    part.tool_name, part.args_as_json_str(), tool_call_id=part.tool_call_id
                )
                yield {i: call}
            elif isinstance(part, TextPart):
                yield part.content

    return stream


class ScriptedModel:
    """Calls the scripted tools, one turn after another, then answers with the JSON list
    of every tool result it was given. Records the tool names it was offered."""

    def __init__(self, *turns: Turn, answer: Callable[[list[str]], str] | None = None) -> None:
        self.turns = list(turns)
        self.offered: list[list[str]] = []
        self.answer: Callable[[list[str]], str] = answer or json.dumps

    def reply(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        self.offered.append(sorted(t.name for t in info.function_tools))
        turn = sum(1 for m in messages if isinstance(m, ModelResponse))
        if turn < len(self.turns):
            calls = [
                ToolCallPart(name, args, f"call-{turn}-{i}")
                for i, (name, args) in enumerate(self.turns[turn])
            ]
            return ModelResponse(parts=calls)
        return ModelResponse(parts=[TextPart(self.answer(tool_returns(messages)))])

    def factory(self, provider: Any, model: str) -> FunctionModel:
        return FunctionModel(self.reply, stream_function=streamed(self.reply))


async def run_worker(runtime: Runtime, model: ScriptedModel) -> AsyncIterator[Any]:
    """A worker on the org's gateway with ``model`` (use as an async generator fixture)."""
    services = services_for(runtime.engine)
    saved = services.llm_factory, services.gateway, runtime.gateway, runtime.llm_model_factory
    services.llm_factory = None
    runtime.gateway, runtime.llm_model_factory = None, model.factory
    attach(runtime.engine, settings=RunSettings(requeue_delay_s=0.1))
    worker = build_worker(runtime)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        yield worker
    finally:
        stop.set()
        await task
        services.llm_factory, services.gateway, runtime.gateway, runtime.llm_model_factory = saved
