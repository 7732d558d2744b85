"""Cancelling the awaiting task cancels the upstream HTTP request (a real local socket)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx2
import pytest
from llm_helpers import openai_provider

from agentdeck.llm import CallContext, ChatMessage, ChatRequest, Gateway, ListUsageSink

pytestmark = pytest.mark.usefixtures("allow_model_requests")


@dataclass
class SlowServer:
    """Reads a request, never answers, and notes when the client hangs up."""

    port: int = 0
    got_request: asyncio.Event = field(default_factory=asyncio.Event)
    closed_by_client: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        self.got_request.set()
        while await reader.read(1024):
            pass
        self.closed_by_client.set()
        writer.close()


@pytest.fixture
async def slow_server() -> AsyncIterator[SlowServer]:
    state = SlowServer()
    server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()
        await server.wait_closed()


async def test_cancelled_chat_closes_the_upstream_connection(slow_server: SlowServer) -> None:
    provider = openai_provider("slow").model_copy(
        update={"base_url": "http://127.0.0.1:" + str(slow_server.port) + "/v1"}
    )
    async with httpx2.AsyncClient() as http:
        gateway = Gateway(usage_sink=ListUsageSink(), http_client=http)
        request = ChatRequest(
            model="slow/gpt-4o", messages=[ChatMessage(role="user", content="hi")]
        )
        task = asyncio.create_task(gateway.chat(CallContext(), request, [provider]))
        await asyncio.wait_for(slow_server.got_request.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(slow_server.closed_by_client.wait(), 5)


async def test_cancelled_stream_closes_the_upstream_connection(slow_server: SlowServer) -> None:
    provider = openai_provider("slow").model_copy(
        update={"base_url": "http://127.0.0.1:" + str(slow_server.port) + "/v1"}
    )
    async with httpx2.AsyncClient() as http:
        gateway = Gateway(usage_sink=ListUsageSink(), http_client=http)
        request = ChatRequest(
            model="slow/gpt-4o", messages=[ChatMessage(role="user", content="hi")]
        )

        async def consume() -> None:
            async for _ in gateway.stream(CallContext(), request, [provider]):
                pass

        task = asyncio.create_task(consume())
        await asyncio.wait_for(slow_server.got_request.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(slow_server.closed_by_client.wait(), 5)
