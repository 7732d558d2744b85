"""The OpenAI-compatible surface's rules: which models a caller sees, and how a chat
completion or a response is answered (an alias through the gateway, `agent:<name>` as a run).

Services never commit; the endpoints commit before anything streams or waits, so no
transaction is held while a model answers.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from agentdeck.agent import service as agents
from agentdeck.auth.principal import Principal, require_runner
from agentdeck.catalog import service as catalog
from agentdeck.errors import AppError, InvalidInput, NotFound
from agentdeck.gateway.service import call_context, org_llm
from agentdeck.models import Run
from agentdeck.openai import _agent, _format
from agentdeck.openai._errors import openai_error
from agentdeck.openai._gateway import answer_text, chat_request, stream_chunks, text_of
from agentdeck.openai.schemas import ChatCompletionIn, ResponseIn
from agentdeck.run import service as runs
from agentdeck.runtime import Runtime

_AGENT_PAGES = 20  # at most 20 x 200 agents are listed

ChatAnswer = dict[str, Any] | AsyncIterator[str] | bytes | AsyncIterator[bytes]
"""A chat completion (a dict, or the upstream's JSON passed through) or its SSE frames."""


def _created(value: Any) -> int:
    return int(value.timestamp()) if value is not None else _format.now()


def _may_run(principal: Principal, space_id: uuid.UUID) -> bool:
    try:
        require_runner(principal, space_id, "agent")
    except AppError:
        return False
    return True


async def list_models(session: AsyncSession, principal: Principal) -> dict[str, Any]:
    """The org's aliases (`default` always) and `agent:<name>` for each agent the caller
    may run (a name found in several spaces is listed once)."""
    data: list[dict[str, Any]] = []
    aliases = {a.name: a for a in await catalog.list_aliases(session, principal)}
    for name in sorted({"default", *aliases}):
        alias = aliases.get(name)
        created = _created(alias.created_at) if alias is not None else 0
        data.append({"id": name, "object": "model", "created": created, "owned_by": "agentdeck"})
    seen: set[str] = set()
    cursor: str | None = None
    for _ in range(_AGENT_PAGES):
        page = await agents.list_agents(session, principal, space_id=None, limit=200, cursor=cursor)
        for agent in page.items:
            if agent.name in seen or not _may_run(principal, agent.space_id):
                continue
            seen.add(agent.name)
            data.append(
                {
                    "id": _agent.PREFIX + agent.name,
                    "object": "model",
                    "created": _created(agent.created_at),
                    "owned_by": f"space:{agent.space_id}",
                }
            )
        cursor = page.next_cursor
        if cursor is None:
            break
    return {"object": "list", "data": data}


def _conversation(body: ChatCompletionIn) -> list[dict[str, str]]:
    return [
        {"role": m.role, "content": text_of(m.content, f"messages.{i}.content")}
        for i, m in enumerate(body.messages)
        if m.role in ("system", "developer", "user", "assistant")
    ]


def _completion_id(run_id: uuid.UUID | None = None) -> str:
    return f"chatcmpl-{(run_id or uuid.uuid4()).hex}"


async def chat_completion(
    runtime: Runtime,
    session: AsyncSession,
    principal: Principal,
    body: ChatCompletionIn,
    *,
    chat_id: str | None,
    raw: dict[str, Any] | None = None,
) -> ChatAnswer:
    """A `chat.completion`, or with `stream` the SSE frames of its chunks. Errors found
    before the answer starts raise (AppError, LLMError); later ones end the stream.

    An alias whose providers all speak OpenAI's format gets ``raw`` (the request as the
    client sent it) passed through (`OrgLLM.pass_through`); other aliases go through the
    gateway's translated path."""
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    if _agent.is_agent(body.model):
        if body.tools:
            raise InvalidInput("tools cannot be sent to an agent model", field="tools")
        call = await _agent.start(
            session,
            principal,
            body.model,
            _conversation(body),
            thread_ref=(body.metadata or {}).get("thread_id"),
            user=body.user,
            chat_id=chat_id,
        )
        await session.commit()
        cid = _completion_id(call.run.id)
        if body.stream:
            writer = _format.ChunkWriter(cid, body.model, include_usage=include_usage)
            return _agent_chunks(runtime, principal, call, writer)
        run = await _agent.finished(runtime, principal, call.run.id)
        return _format.completion(
            cid, body.model, _agent.answer_of(run), usage=_agent.usage_of(run)
        )
    llm = await org_llm(runtime, session, call_context(principal.scope), principal.scope)
    if session.in_transaction():  # nothing is held while the model answers; usage and
        await session.commit()  # budget rows are written in their own transactions
    if raw is not None and (passed := await llm.pass_through(raw)) is not None:
        return passed
    request = chat_request(body)
    if body.stream:
        writer = _format.ChunkWriter(_completion_id(), body.model, include_usage=include_usage)
        return await stream_chunks(llm, request, writer)
    result = await llm.chat(request)
    return _format.completion(
        _completion_id(),
        body.model,
        answer_text(result.message, result.parsed),
        tool_calls=result.tool_calls,
        usage=result.usage,
    )


async def _agent_chunks(
    runtime: Runtime, principal: Principal, call: _agent.AgentCall, writer: _format.ChunkWriter
) -> AsyncIterator[str]:
    yield writer.start()
    try:
        async for piece in _agent.tokens(runtime, principal, call):
            if isinstance(piece, Run):
                _agent.answer_of(piece)  # a failed run raises
                yield writer.finish(_agent.usage_of(piece))
                return
            yield writer.text(piece)
    except AppError as exc:
        yield writer.error(openai_error(exc)[1])


# --- the Responses API ------------------------------------------------------------------


def _response_id(run_id: uuid.UUID) -> str:
    return f"resp_{run_id.hex}"


def _run_of_response(response_id: str) -> uuid.UUID | None:
    if not response_id.startswith("resp_"):
        return None
    try:
        return uuid.UUID(hex=response_id[5:])
    except ValueError:
        return None


def _response_conversation(body: ResponseIn) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    if body.instructions:
        out.append({"role": "system", "content": body.instructions})
    if isinstance(body.input, str):
        out.append({"role": "user", "content": body.input})
        return out
    for i, item in enumerate(body.input):
        if item.type not in (None, "message"):
            raise InvalidInput(
                f"input items of type '{item.type}' are not supported", field="input"
            )
        out.append({"role": item.role, "content": text_of(item.content, f"input.{i}.content")})
    return out


async def _previous_thread(session: AsyncSession, principal: Principal, response_id: str) -> str:
    run_id = _run_of_response(response_id)
    if run_id is None:
        raise NotFound("previous response not found", field="previous_response_id")
    try:
        run = await runs.get_run(session, principal, run_id)
    except NotFound:
        raise NotFound("previous response not found", field="previous_response_id") from None
    if run.thread_id is None:
        raise NotFound("previous response not found", field="previous_response_id")
    return str(run.thread_id)


async def create_response(
    runtime: Runtime, session: AsyncSession, principal: Principal, body: ResponseIn
) -> dict[str, Any] | AsyncIterator[str]:
    """A `response` of an agent, or with `stream` its events. Each response is a run on a
    thread; `previous_response_id` continues that thread. Aliases answer statelessly."""
    if body.tools:
        raise InvalidInput("tools are not supported on /v1/responses", field="tools")
    conversation = _response_conversation(body)
    if not _agent.is_agent(body.model):
        if body.previous_response_id is not None:
            raise InvalidInput(
                "previous_response_id needs an agent: model", field="previous_response_id"
            )
        return await _alias_response(runtime, session, principal, body, conversation)
    thread_ref = None
    if body.previous_response_id is not None:
        thread_ref = await _previous_thread(session, principal, body.previous_response_id)
    call = await _agent.start(
        session,
        principal,
        body.model,
        conversation,
        thread_ref=thread_ref,
        user=body.user,
        new_thread=True,
        metadata={"previous_response_id": body.previous_response_id},
    )
    await session.commit()
    rid = _response_id(call.run.id)

    def shape(status: str, text: str | None, run: Run | None) -> dict[str, Any]:
        return _format.response(
            rid,
            body.model,
            status=status,
            text=text,
            usage=None if run is None else _agent.usage_of(run),
            previous_response_id=body.previous_response_id,
            created_at=_created(call.run.created_at),
            instructions=body.instructions,
            metadata=body.metadata,
        )

    if not body.stream:
        run = await _agent.finished(runtime, principal, call.run.id)
        return shape("completed", _agent.answer_of(run), run)

    async def events() -> AsyncIterator[str]:
        writer = _format.ResponseEvents(shape("in_progress", None, None))
        yield writer.start()
        try:
            async for piece in _agent.tokens(runtime, principal, call):
                if isinstance(piece, Run):
                    _agent.answer_of(piece)
                    yield writer.done(shape("completed", writer.text, piece))
                    return
                yield writer.delta(piece)
        except AppError as exc:
            yield writer.failed(exc.detail, exc.type.replace("-", "_"))

    return events()


async def _alias_response(
    runtime: Runtime,
    session: AsyncSession,
    principal: Principal,
    body: ResponseIn,
    conversation: list[dict[str, str]],
) -> dict[str, Any] | AsyncIterator[str]:
    messages: list[dict[str, Any]] = [dict(m) for m in conversation]
    chat = ChatCompletionIn(
        model=body.model,
        messages=messages,
        max_tokens=body.max_output_tokens,
        temperature=body.temperature,
    )
    request = chat_request(chat)
    llm = await org_llm(runtime, session, call_context(principal.scope), principal.scope)
    await session.commit()
    rid = f"resp_{uuid.uuid4().hex}"
    created = _format.now()

    def shape(status: str, text: str | None, usage: Any) -> dict[str, Any]:
        return _format.response(
            rid, body.model, status=status, text=text, usage=usage,
            previous_response_id=None, created_at=created, instructions=body.instructions,
            metadata=body.metadata,
        )  # fmt: skip

    if not body.stream:
        result = await llm.chat(request)
        return shape("completed", answer_text(result.message, result.parsed), result.usage)
    stream = aiter(llm.stream(request))
    first = await anext(stream, None)

    async def events() -> AsyncIterator[str]:
        writer = _format.ResponseEvents(shape("in_progress", None, None))
        yield writer.start()
        event = first
        try:
            while event is not None:
                if event.type == "delta":
                    yield writer.delta(event.text)
                elif event.type == "final":
                    yield writer.done(shape("completed", writer.text, event.result.usage))
                    return
                event = await anext(stream, None)
        except Exception as exc:  # the gateway's errors, after the answer began
            _, doc, _ = openai_error(exc)
            yield writer.failed(doc["error"]["message"], str(doc["error"]["code"]))

    return events()
