"""The /v1 chat completion SSE response (`openai._chat_route.EventStream`): the frame
ending in [DONE] ends the body in the same message, a client that leaves cancels the
stream (and its cleanup runs), and what the iterator does after [DONE] is not cut short."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from starlette.types import Message

from agentdeck.openai._chat_route import EventStream

SCOPE: dict[str, Any] = {"type": "http", "asgi": {"spec_version": "2.3"}}


async def _run(frames: AsyncIterator[bytes], disconnect_after: float | None) -> list[Message]:
    sent: list[Message] = []
    gone = asyncio.Event()

    async def receive() -> Message:
        if disconnect_after is None:
            await gone.wait()
        else:
            await asyncio.sleep(disconnect_after)
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message["more_body"]:
            gone.set()  # as uvicorn: after the response, receive() answers disconnect

    await asyncio.wait_for(EventStream(frames)(SCOPE, receive, send), 5)
    return sent


async def test_done_frame_ends_the_body_and_the_iterator_finishes_its_work() -> None:
    drained = asyncio.Event()

    async def frames() -> AsyncIterator[bytes]:
        yield b"data: {}\n\n"
        yield b"data: {}\n\ndata: [DONE]\n\n"
        await asyncio.sleep(0.05)  # the pass-through's drain, after the client has it all
        drained.set()

    sent = await _run(frames(), None)
    bodies = [(m["body"], m["more_body"]) for m in sent[1:]]
    assert bodies == [(b"data: {}\n\n", True), (b"data: {}\n\ndata: [DONE]\n\n", False)]
    assert drained.is_set()


async def test_a_client_that_leaves_cancels_the_stream_and_its_cleanup_runs() -> None:
    cleaned = asyncio.Event()

    async def frames() -> AsyncIterator[bytes]:
        try:
            yield b"data: 1\n\n"
            await asyncio.sleep(30)
            yield b"data: never\n\n"
        finally:
            cleaned.set()

    sent = await _run(frames(), 0.05)
    assert [m.get("body") for m in sent[1:]] == [b"data: 1\n\n"]
    assert cleaned.is_set()


async def test_a_stream_without_done_ends_with_an_empty_last_message() -> None:
    async def frames() -> AsyncIterator[bytes]:
        yield b'data: {"x": 1}\n\n'

    sent = await _run(frames(), None)
    assert [(m["body"], m["more_body"]) for m in sent[1:]] == [
        (b'data: {"x": 1}\n\n', True),
        (b"", False),
    ]
