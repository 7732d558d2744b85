"""POST /v1/chat/completions without FastAPI's per-request machinery: the hot path of
agentdeck as the org's LLM proxy.

FastAPI's dependency solving, its body parsing and the committing route add about a
millisecond per call, more than the proxy may add in all (issue 15: at most 2 ms at p50
over calling the upstream directly). This route keeps the endpoint's declared signature
for the OpenAPI document and answers with its own handler, which does the same things in
the same order: the body's JSON (nesting depth refused as `check_json_depth` does, a
parse error as FastAPI reports it), the caller (the same `get_principal`, with its cache,
and the `run` scope), the body validated by `ChatCompletionIn`, the service, the session
committed or rolled back, errors in OpenAI's shape.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import Receive, Scope, Send

from agentdeck.api import MAX_BODY_DEPTH
from agentdeck.auth.principal import Principal, get_principal
from agentdeck.errors import AppError, Forbidden, InvalidInput
from agentdeck.kit import nesting
from agentdeck.kit.tenancy import KeyScope, key_scopes_grant
from agentdeck.llm import LLMError
from agentdeck.llm.openai_stream import DONE
from agentdeck.openai import service
from agentdeck.openai._errors import OpenAIRoute, error_response
from agentdeck.openai.schemas import ChatCompletionIn
from agentdeck.runtime import Runtime

CHAT_ID_HEADER = "X-OpenWebUI-Chat-Id"
_CHAT_ID_MAX = 200
SSE_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


def _is_json(content_type: str | None) -> bool:
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    return kind == "application/json" or (
        kind.startswith("application/") and kind.endswith("+json")
    )


def _invalid(errors: list[dict[str, Any]]) -> RequestValidationError:
    return RequestValidationError(errors)


def _json_body(raw: bytes, content_type: str | None) -> Any:
    """The parsed body; errors as FastAPI and `check_json_depth` report them."""
    if not raw:
        return None
    if not _is_json(content_type):
        return raw  # FastAPI's strict content type: not JSON, so the model refuses it
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        text = raw.decode("utf-8", "replace")
        path = nesting.too_deep_in_text(text, MAX_BODY_DEPTH)
        if path is not None:
            field = nesting.field_name(path)
            raise InvalidInput(
                f"{field}: nested deeper than {MAX_BODY_DEPTH} levels", field=field
            ) from None
        raise _invalid(
            [{"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error",
              "input": {}, "ctx": {"error": exc.msg}}]
        ) from None  # fmt: skip
    path = nesting.too_deep(data, MAX_BODY_DEPTH)
    if path is not None:
        field = nesting.field_name(path)
        raise InvalidInput(f"{field}: nested deeper than {MAX_BODY_DEPTH} levels", field=field)
    return data


def _validated(data: Any) -> ChatCompletionIn:
    if data is None:
        raise _invalid([{"type": "missing", "loc": ("body",), "msg": "Field required",
                         "input": None}])  # fmt: skip
    try:
        return ChatCompletionIn.model_validate(data)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise _invalid(errors) from None


def _bearer(value: str | None) -> HTTPAuthorizationCredentials | None:
    """What `HTTPBearer(auto_error=False)` reads from the header."""
    if not value:
        return None
    scheme, _, credentials = value.partition(" ")
    credentials = credentials.strip()
    if not scheme or not credentials or scheme.lower() != "bearer":
        return None
    return HTTPAuthorizationCredentials(scheme=scheme, credentials=credentials)


async def _runner(request: Request, runtime: Runtime, session: AsyncSession) -> Principal:
    """The caller, who must hold the `run` scope if they use an API key (as `Runner`)."""
    headers = request.headers
    principal = await get_principal(
        request, runtime, session, _bearer(headers.get("authorization")), headers.get("x-api-key")
    )
    scopes = principal.scope.key_scopes
    if scopes is not None and not key_scopes_grant(scopes, KeyScope.RUN):
        raise Forbidden(f"this API key lacks the '{KeyScope.RUN.value}' scope")
    return principal


def _chat_id(request: Request) -> str | None:
    value = request.headers.get(CHAT_ID_HEADER)
    if value is not None and len(value) > _CHAT_ID_MAX:
        raise _invalid(
            [{"type": "string_too_long", "loc": ("header", CHAT_ID_HEADER),
              "msg": f"String should have at most {_CHAT_ID_MAX} characters", "input": value,
              "ctx": {"max_length": _CHAT_ID_MAX}}]
        )  # fmt: skip
    return value


class EventStream(StreamingResponse):
    """An SSE response whose frame ending in ``data: [DONE]`` is its last: it goes out
    with the end of the body in one write (nothing follows [DONE] in OpenAI's streams),
    which spares the client a wake-up per stream.

    A client that goes away cancels the stream, as Starlette's streams do, but watched by
    one plain task instead of an anyio task group (a tenth of a short stream's CPU), and
    only until the body has ended: what the iterator does after that (the pass-through
    reading its upstream's last bytes so the connection is pooled) is not cut short.
    """

    _sending = True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        if scope["type"] != "http" or task is None:
            await super().__call__(scope, receive, send)
            return
        gone = False

        async def watch() -> None:
            nonlocal gone
            while (await receive())["type"] != "http.disconnect":
                pass
            if self._sending:  # the client left before the end: stop the stream
                gone = True
                task.cancel()

        watcher = asyncio.get_running_loop().create_task(watch())
        try:
            await self.stream_response(send)
        except asyncio.CancelledError:
            if not gone or task.uncancel() > 0:
                raise
        finally:
            self._sending = False
            watcher.cancel()
            close = getattr(self.body_iterator, "aclose", None)
            if close is not None:  # a stream cut short while sending: its cleanup runs now
                await close()
        if self.background is not None:
            await self.background()

    async def stream_response(self, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        async for chunk in self.body_iterator:
            if not self._sending:  # nothing follows [DONE]: the iterator just ends
                continue
            data = chunk.encode(self.charset) if isinstance(chunk, str) else bytes(chunk)
            ended = data.endswith(DONE)
            if ended:
                self._sending = False
            await send({"type": "http.response.body", "body": data, "more_body": not ended})
        if self._sending:
            self._sending = False
            await send({"type": "http.response.body", "body": b"", "more_body": False})


def answer_of(result: service.ChatAnswer) -> Response:
    """The HTTP response of a chat completion: JSON, or an SSE stream."""
    if isinstance(result, bytes):
        return Response(result, media_type="application/json")
    if isinstance(result, dict):
        return JSONResponse(result)
    return EventStream(result, media_type="text/event-stream", headers=SSE_HEADERS)


async def _answer(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    data = _json_body(await request.body(), request.headers.get("content-type"))
    chat_id = _chat_id(request)
    # Closed only if it was used: on the proxy's steady path (the caller and the org's
    # models from their caches) it never is, and closing costs a greenlet round trip.
    session = runtime.sessionmaker()
    try:
        principal = await _runner(request, runtime, session)
        body = _validated(data)
        result = await service.chat_completion(
            runtime, session, principal, body, chat_id=chat_id, raw=data
        )
        if session.in_transaction():
            await session.commit()
    finally:
        if session.in_transaction() or session.identity_map:
            await session.close()  # rolls back what was not committed
    return answer_of(result)


async def handle(request: Request) -> Response:
    """Answer POST /v1/chat/completions (see the module); errors in OpenAI's shape."""
    try:
        return await _answer(request)
    except (AppError, LLMError, RequestValidationError) as exc:
        return error_response(exc)


class ChatCompletionsRoute(OpenAIRoute):
    """The route of POST /v1/chat/completions: documented from its endpoint's signature,
    answered by :func:`handle`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        return handle
