"""/api/v1/llm/chat: the playground, as JSON or as server-sent events."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Response
from sse_starlette.sse import EventSourceResponse

from agentdeck.api import RuntimeDep, SessionDep, new_router
from agentdeck.auth.principal import Runner
from agentdeck.errors import NotFound
from agentdeck.gateway.schemas import ChatIn, ChatOut, UsageOut
from agentdeck.gateway.service import call_context, org_llm
from agentdeck.kit import sse
from agentdeck.llm import ChatMessage, ChatRequest, ChatResult, LLMError, StreamEvent, ToolSpec

router = new_router("/llm", tags=["llm"])


def _request(body: ChatIn) -> ChatRequest:
    return ChatRequest(
        model=body.model,
        messages=[
            ChatMessage(role=m.role, content=m.content, tool_call_id=m.tool_call_id)
            for m in body.messages
        ],
        tools=[
            ToolSpec(name=t.name, description=t.description, parameters_json_schema=t.parameters)
            for t in body.tools
        ],
        response_format=body.response_format,
        temperature=body.temperature,
        max_tokens=body.max_tokens,
        use_cache=body.cache,
    )


def _out(result: ChatResult) -> ChatOut:
    return ChatOut(
        message=result.message,
        parsed=result.parsed,
        tool_calls=[c.model_dump(mode="json") for c in result.tool_calls],
        model=result.model,
        provider=result.provider,
        usage=UsageOut(**result.usage.model_dump()),
        cost_usd=result.cost_usd,
        cache_hit=result.cache_hit,
        attempts=[a.model_dump(mode="json") for a in result.attempts],
    )


def _sse(event: StreamEvent) -> dict[str, str]:
    if event.type == "delta":
        return sse.message("delta", {"text": event.text})
    if event.type == "tool_call":
        return sse.message_json("tool_call", event.tool_call.model_dump_json())
    return sse.message_json("final", _out(event.result).model_dump_json())


@router.post(
    "/chat",
    response_model=ChatOut,
    responses={
        200: {
            "content": {
                "text/event-stream": {
                    "schema": {
                        "type": "object",
                        "properties": {"event": {"type": "string"}, "data": {"type": "string"}},
                    }
                }
            }
        }
    },
)
async def chat(body: ChatIn, principal: Runner, session: SessionDep, runtime: RuntimeDep) -> Any:
    """One gateway call: an alias or `provider/model`, messages, optional tools and schema.

    With `stream: true` the answer comes as SSE: `delta` events with text, `tool_call`
    events, then one `final` event with the whole result and usage (or an `error` event
    carrying a problem document).
    """
    if body.space_id is not None and not principal.scope.can_see_space(body.space_id):
        raise NotFound("space not found", field="space_id")
    llm = await org_llm(
        runtime, session, call_context(principal.scope, space_id=body.space_id), principal.scope
    )
    request = _request(body)
    # End the request's transaction before the model call: a call takes seconds, and usage
    # and budget rows are written in their own transactions (on SQLite they need the lock).
    await session.commit()
    if not body.stream:
        return _out(await llm.chat(request))

    stream = aiter(llm.stream(request))
    # Resolution, budget and connection errors surface before the first event: answer them
    # as a plain problem response rather than as a 200 stream.
    first = await anext(stream)

    async def events() -> AsyncIterator[dict[str, str]]:
        event: StreamEvent = first
        try:
            while True:
                yield _sse(event)
                event = await anext(stream)
        except StopAsyncIteration:
            return
        except LLMError as exc:
            yield {"event": "error", "data": json.dumps(exc.to_problem())}

    response: Response = EventSourceResponse(events(), ping=sse.PING_S)
    return response
