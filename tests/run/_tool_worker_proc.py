"""A worker process for the tool crash test: `agentdeck worker`, with a scripted model.

The model (pydantic-ai FunctionModel at the gateway's seam) calls
`github__create_issue`, then `github__list_issues`, then answers with what it was given.
It is deterministic: its turn is the number of model responses in the conversation.
"""

from __future__ import annotations

import asyncio
import json
import signal
from typing import Any

from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from agentdeck.app import build_runtime, build_worker
from agentdeck.config import Settings
from agentdeck.logging import configure_logging
from tests.run.tool_support import streamed, tool_returns

TURNS = [
    ("github__create_issue", {"owner": "acme", "repo": "app", "title": "Crash-proof"}),
    ("github__list_issues", {"owner": "acme", "repo": "app"}),
]


def _reply(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    turn = sum(1 for m in messages if isinstance(m, ModelResponse))
    if turn < len(TURNS):
        name, args = TURNS[turn]
        return ModelResponse(parts=[ToolCallPart(name, args, f"call-{turn}")])
    return ModelResponse(parts=[TextPart(json.dumps(tool_returns(messages)))])


def _factory(provider: Any, model: str) -> FunctionModel:
    return FunctionModel(_reply, stream_function=streamed(_reply))


async def _run() -> None:
    settings = Settings()
    configure_logging(json_logs=False, level="INFO")
    runtime = build_runtime(settings)
    runtime.llm_model_factory = _factory
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await build_worker(runtime).run(stop)
    finally:
        await runtime.engine.dispose()


if __name__ == "__main__":
    asyncio.run(_run())
