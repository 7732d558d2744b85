"""Streaming one call: fallback until the first event arrives, then deltas to the caller."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

from pydantic_ai.direct import model_request_stream
from pydantic_ai.messages import (
    ModelResponseStreamEvent,
    PartDeltaEvent,
    PartEndEvent,
    PartStartEvent,
    TextPart,
    TextPartDelta,
    ToolCallPart,
)
from pydantic_ai.models import StreamedResponse

from agentdeck.llm import _structured as structured
from agentdeck.llm._calls import Caller, RetriesExhausted, model_settings, unavailable
from agentdeck.llm._messages import OUTPUT_TOOL_NAME, add_usage, to_model_messages, tool_call_of
from agentdeck.llm._retry import Failure, classify
from agentdeck.llm.errors import ProviderUnavailableError, StructuredOutputError
from agentdeck.llm.providers import structured_mode
from agentdeck.llm.routing import Candidate
from agentdeck.llm.types import (
    Attempt,
    ChatRequest,
    FinalEvent,
    StreamEvent,
    TextDelta,
    ToolCallEvent,
    Usage,
)

_Opened = tuple[AsyncExitStack, StreamedResponse, AsyncIterator[ModelResponseStreamEvent], Any]


async def _open(
    caller: Caller, cand: Candidate, request: ChatRequest, attempts: list[Attempt]
) -> tuple[_Opened, float]:
    """Open a stream on `cand` and wait for its first event, retrying transient failures."""
    mode = structured_mode(cand.provider.kind)
    params = structured.request_parameters(request.tools, request.response_format, mode)
    messages = to_model_messages(request.messages)
    model = caller.model_for(cand)
    retry = 0
    while True:
        t0 = caller.clock()
        stack = AsyncExitStack()
        try:
            async with asyncio.timeout(request.timeout_s):
                streamed = await stack.enter_async_context(
                    model_request_stream(
                        model,
                        messages,
                        model_settings=model_settings(request),
                        model_request_parameters=params,
                        instrument=False,
                    )
                )
                events = aiter(streamed)
                first = await anext(events, None)
        except BaseException as exc:
            await stack.aclose()
            if not isinstance(exc, Exception):
                raise
            failure = classify(exc, [cand.provider.api_key])
            retry = await caller.after_failure(
                cand, failure, t0, retry, request.max_retries, attempts
            )
            continue
        return (stack, streamed, events, first), t0


def _map(event: ModelResponseStreamEvent) -> StreamEvent | None:
    if isinstance(event, PartStartEvent) and isinstance(event.part, TextPart):
        return TextDelta(text=event.part.content) if event.part.content else None
    if isinstance(event, PartDeltaEvent) and isinstance(event.delta, TextPartDelta):
        return TextDelta(text=event.delta.content_delta) if event.delta.content_delta else None
    if (
        isinstance(event, PartEndEvent)
        and isinstance(event.part, ToolCallPart)
        and event.part.tool_name != OUTPUT_TOOL_NAME
    ):
        return ToolCallEvent(tool_call=tool_call_of(event.part))
    return None


async def stream_chat(
    caller: Caller, candidates: list[Candidate], request: ChatRequest, attempts: list[Attempt]
) -> AsyncIterator[StreamEvent]:
    """Stream events for `request`; the last one is a `FinalEvent` with usage and ttft."""
    last: Failure | None = None
    for cand in candidates:
        try:
            opened, t0 = await _open(caller, cand, request, attempts)
        except RetriesExhausted as exc:
            last = exc.failure
            continue
        stack, streamed, events, event = opened
        ttft_ms = (caller.clock() - t0) * 1000
        async with stack:
            try:
                while event is not None:
                    mapped = _map(event)
                    if mapped is not None:
                        yield mapped
                    async with asyncio.timeout(request.timeout_s):
                        event = await anext(events, None)
            except Exception as exc:
                failure = classify(exc, [cand.provider.api_key])
                attempts.append(caller.attempt(cand, t0, failure.kind, failure.http_status))
                raise ProviderUnavailableError(
                    "The stream broke off: " + failure.message, model=cand.label
                ) from None
            response = streamed.get()
        attempts.append(caller.attempt(cand, t0, ttft_ms=ttft_ms))
        parsed: Any = None
        if request.response_format is not None:
            mode = structured_mode(cand.provider.kind)
            parsed, errors = structured.extract(response, mode)
            errors = errors or structured.validate(parsed, request.response_format)
            if errors:
                raise StructuredOutputError(
                    "The streamed answer did not match the schema", errors=errors, model=cand.label
                )
        usage = add_usage(Usage(), response)
        yield FinalEvent(result=caller.result(cand, response, usage, parsed, attempts))
        return
    raise unavailable(last, attempts)
