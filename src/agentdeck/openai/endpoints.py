"""/v1: the OpenAI-compatible API, so `OpenAI(base_url="<server>/v1", api_key="ad_...")`
works unchanged. Mounted at the root (not under /api/v1); errors are OpenAI's shape."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Response
from fastapi.responses import JSONResponse

from agentdeck.api import RuntimeDep, SessionDep
from agentdeck.auth.principal import Reader, Runner
from agentdeck.openai import service
from agentdeck.openai._chat_route import CHAT_ID_HEADER, ChatCompletionsRoute, answer_of
from agentdeck.openai._errors import OpenAIRoute
from agentdeck.openai.schemas import ChatCompletionIn, ResponseIn

router = APIRouter(prefix="/v1", tags=["openai"], route_class=OpenAIRoute)

_ERROR_DOC: dict[str, Any] = {
    "description": "OpenAI's error shape",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"error": {"type": "object"}},
                "example": {
                    "error": {
                        "message": "The model 'agent:x' does not exist",
                        "type": "not_found_error",
                        "param": "model",
                        "code": "model_not_found",
                    }
                },
            }
        }
    },
}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: _ERROR_DOC for code in (400, 401, 402, 403, 404, 429)
}
_SSE = {"content": {"text/event-stream": {"schema": {"type": "string", "example": "data: [DONE]"}}}}


@router.get("/models", responses=_RESPONSES)
async def list_models(principal: Reader, session: SessionDep) -> JSONResponse:
    """The org's model aliases and `agent:<name>` for every agent the caller may run."""
    return JSONResponse(await service.list_models(session, principal))


async def chat_completions(
    body: ChatCompletionIn,
    principal: Runner,
    session: SessionDep,
    runtime: RuntimeDep,
    chat_id: Annotated[str | None, Header(alias=CHAT_ID_HEADER, max_length=200)] = None,
) -> Response:
    """A chat completion: an alias through the gateway, or `agent:<name>` as a run. With
    `stream`, `chat.completion.chunk` events then `data: [DONE]` (and a last usage chunk
    with `stream_options.include_usage`)."""
    raw = body.model_dump(mode="json", exclude_unset=True)
    return answer_of(
        await service.chat_completion(runtime, session, principal, body, chat_id=chat_id, raw=raw)
    )


# Documented from the signature above; answered by the lean handler of
# `ChatCompletionsRoute` (the proxy's hot path), which does what FastAPI would.
router.add_api_route(
    "/chat/completions",
    chat_completions,
    methods=["POST"],
    responses={**_RESPONSES, 200: _SSE},
    route_class_override=ChatCompletionsRoute,
)


@router.post("/responses", responses={**_RESPONSES, 200: _SSE})
async def create_response(
    body: ResponseIn, principal: Runner, session: SessionDep, runtime: RuntimeDep
) -> Response:
    """A response (Responses API); `previous_response_id` continues the same thread. With
    `stream`: `response.created`, `response.output_text.delta`, ..., `response.completed`,
    each with its `sequence_number`."""
    return answer_of(await service.create_response(runtime, session, principal, body))
