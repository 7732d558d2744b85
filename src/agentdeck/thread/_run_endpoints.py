"""Runs on threads, and stateless runs, as the LangGraph server serves them.

Creating a run commits before anything waits or streams, so the worker can claim it and no
transaction stays open while a response streams.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Header, Path, Query
from fastapi.responses import StreamingResponse

from agentdeck.api import RuntimeDep, SessionDep, new_router
from agentdeck.auth.principal import Reader, Runner
from agentdeck.kit import sse
from agentdeck.run import service as runs
from agentdeck.run.schemas import MAX_SEQ
from agentdeck.thread import _runs, service
from agentdeck.thread._sse import Translator, modes_of
from agentdeck.thread.schemas import RunCreate, RunOut

router = new_router(tags=["threads"])

ThreadId = Annotated[uuid.UUID, Path()]
RunId = Annotated[uuid.UUID, Path()]
_SSE_EVENT: dict[str, Any] = {
    "type": "object",
    "description": "One Server-Sent Event: `metadata`, then one per stream mode, then `end` "
    "(or `error`); `data` is JSON.",
    "properties": {
        "event": {"type": "string"},
        "data": {"type": "string"},
        "id": {"type": "string"},
    },
    "example": {"event": "updates", "data": '{"draft": {"text": "hi"}}', "id": "3"},
}
_SSE_DOC: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {"schema": _SSE_EVENT}}},
}


def _stream_response(body: Any, *, location: str, content_location: str) -> StreamingResponse:
    headers = {
        "Content-Location": content_location,
        "Cache-Control": "no-store",
        "X-Accel-Buffering": "no",
    }
    if location:
        headers["Location"] = location
    return StreamingResponse(body, media_type="text/event-stream", headers=headers)


@router.post("/threads/{thread_id}/runs", response_model=RunOut)
async def create_run(
    thread_id: ThreadId, body: RunCreate, principal: Runner, session: SessionDep
) -> RunOut:
    """Start a run in the background (`multitask_strategy`: reject (409) or enqueue)."""
    thread = await service.get(session, principal, thread_id)
    run, _ = await _runs.start(session, principal, body, thread)
    return _runs.run_out(run)


@router.post("/threads/{thread_id}/runs/stream", responses=_SSE_DOC)
async def stream_run(
    thread_id: ThreadId,
    body: RunCreate,
    principal: Runner,
    session: SessionDep,
    runtime: RuntimeDep,
) -> StreamingResponse:
    """Start a run and stream it as SSE: `metadata`, one event per `stream_mode`, `end`."""
    thread = await service.get(session, principal, thread_id)
    run, seed = await _runs.start(session, principal, body, thread)
    translator = Translator(str(run.id), modes_of(body.stream_mode), seed)
    path = f"/threads/{thread.id}/runs/{run.id}"
    return _stream_response(
        _runs.sse(runtime, principal, run.id, translator),
        location=f"{path}/stream",
        content_location=path,
    )


@router.post("/threads/{thread_id}/runs/wait", response_model=dict[str, Any])
async def wait_run(
    thread_id: ThreadId,
    body: RunCreate,
    principal: Runner,
    session: SessionDep,
    runtime: RuntimeDep,
) -> dict[str, Any]:
    """Start a run and answer with its final state (`__interrupt__`/`__error__` if so)."""
    thread = await service.get(session, principal, thread_id)
    run, _ = await _runs.start(session, principal, body, thread)
    run_id = run.id
    await session.commit()
    known = "pending" if runs.started_here(session, run_id) else None  # else: read it first
    return await _runs.wait_values(runtime, session, principal, run_id, known=known)


@router.get("/threads/{thread_id}/runs", response_model=list[RunOut])
async def list_runs(
    thread_id: ThreadId,
    principal: Reader,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 10,
    offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
    status: Annotated[str | None, Query(max_length=20)] = None,
) -> list[RunOut]:
    """The thread's runs, newest first (`status` in LangGraph's or agentdeck's words)."""
    thread = await service.get(session, principal, thread_id)
    wanted = {k for k, v in _runs.STATUS.items() if status in (k, v)} if status else None
    found = await runs.runs_on_thread(
        session, principal, thread.id, statuses=wanted, limit=limit, offset=offset
    )
    return [_runs.run_out(r) for r in found]


@router.get("/threads/{thread_id}/runs/{run_id}", response_model=RunOut)
async def get_run(
    thread_id: ThreadId, run_id: RunId, principal: Reader, session: SessionDep
) -> RunOut:
    """One run of the thread."""
    thread = await service.get(session, principal, thread_id)
    return _runs.run_out(await _runs.get_on_thread(session, principal, thread, run_id))


@router.get("/threads/{thread_id}/runs/{run_id}/join", response_model=dict[str, Any])
async def join_run(
    thread_id: ThreadId,
    run_id: RunId,
    principal: Reader,
    session: SessionDep,
    runtime: RuntimeDep,
) -> dict[str, Any]:
    """Wait for the run to stop; its final state."""
    thread = await service.get(session, principal, thread_id)
    run = await _runs.get_on_thread(session, principal, thread, run_id)
    await session.commit()
    return await _runs.wait_values(runtime, session, principal, run.id)


@router.get("/threads/{thread_id}/runs/{run_id}/stream", responses=_SSE_DOC)
async def join_stream(
    thread_id: ThreadId,
    run_id: RunId,
    principal: Reader,
    session: SessionDep,
    runtime: RuntimeDep,
    stream_mode: Annotated[list[Annotated[str, Query(max_length=30)]] | None, Query()] = None,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
) -> StreamingResponse:
    """Stream a run's events: replayed from the start (or after `Last-Event-ID`), then live."""
    after = sse.last_event_id(last_event_id, maximum=MAX_SEQ)
    thread = await service.get(session, principal, thread_id)
    run = await _runs.get_on_thread(session, principal, thread, run_id)
    seed: dict[str, Any] = {"inputs": run.inputs, "steps": {}, "output": None}
    if run.command and thread.values:
        seed = {**thread.values, "inputs": run.inputs, "output": None}
    modes = modes_of(stream_mode) if any(stream_mode or []) else []
    modes = modes or ["values", "updates", "custom"]
    translator = Translator(str(run.id), modes, seed)
    path = f"/threads/{thread.id}/runs/{run.id}"
    return _stream_response(
        _runs.sse(runtime, principal, run.id, translator, after_seq=after),
        location=f"{path}/stream",
        content_location=path,
    )


@router.post("/threads/{thread_id}/runs/{run_id}/cancel", response_model=RunOut)
async def cancel_run(
    thread_id: ThreadId,
    run_id: RunId,
    principal: Runner,
    session: SessionDep,
    runtime: RuntimeDep,
    wait: Annotated[bool, Query()] = False,
) -> RunOut:
    """Cancel a run (`?wait=1`: answer once it has stopped)."""
    thread = await service.get(session, principal, thread_id)
    run = await _runs.get_on_thread(session, principal, thread, run_id)
    run = await runs.cancel_run(session, principal, run.id)
    if wait:
        await session.commit()
        run = await runs.wait_for_run(runtime, run.id)
        session.expire_all()
    return _runs.run_out(run)


@router.post("/runs/stream", responses=_SSE_DOC)
async def stream_stateless_run(
    body: RunCreate, principal: Runner, session: SessionDep, runtime: RuntimeDep
) -> StreamingResponse:
    """Run without a thread and stream it (resuming needs a thread)."""
    run, seed = await _runs.start(session, principal, body, None)
    translator = Translator(str(run.id), modes_of(body.stream_mode), seed)
    return _stream_response(
        _runs.sse(runtime, principal, run.id, translator),
        location="",
        content_location=f"/runs/{run.id}",
    )


@router.post("/runs/wait", response_model=dict[str, Any])
async def wait_stateless_run(
    body: RunCreate, principal: Runner, session: SessionDep, runtime: RuntimeDep
) -> dict[str, Any]:
    """Run without a thread; answer with its final state."""
    run, _ = await _runs.start(session, principal, body, None)
    run_id = run.id
    await session.commit()
    known = "pending" if runs.started_here(session, run_id) else None  # else: read it first
    return await _runs.wait_values(runtime, session, principal, run_id, known=known)
