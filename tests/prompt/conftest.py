"""A served agentdeck (API and worker) whose model echoes the prompt it was sent."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, UserPromptPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from agentdeck.app import create_app
from agentdeck.config import Settings


def _text(messages: list[ModelMessage]) -> str:
    system = [p.content for m in messages for p in m.parts if p.part_kind == "system-prompt"]
    users = [p.content for m in messages for p in m.parts if isinstance(p, UserPromptPart)]
    return f"{'|'.join(system)}>{users[-1]}"


def _echo(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    return ModelResponse(parts=[TextPart(_text(messages))])


async def _echo_stream(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str]:
    yield _text(messages)


def echo_factory(provider: Any, model: str) -> FunctionModel:
    """The model answers `<system>><last user message>`."""
    return FunctionModel(_echo, stream_function=_echo_stream)


@pytest.fixture(scope="module")
async def echo_url(settings: Settings) -> AsyncIterator[str]:
    app = create_app(settings, start_worker=True, configure_logs=False)
    app.state.runtime.llm_model_factory = echo_factory
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(200):
        if server.started or task.done():
            break
        await asyncio.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
        sock.close()
