"""/api/v1/runs: read runs and their steps, cancel them, stream their events (SSE)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Header, Query
from sse_starlette import EventSourceResponse

from agentdeck.api import RuntimeDep, SessionDep, new_router
from agentdeck.auth.principal import Reader, Runner
from agentdeck.errors import AppError
from agentdeck.kit import sse
from agentdeck.kit.pagination import MAX_LIMIT
from agentdeck.run import service
from agentdeck.run.schemas import (
    MAX_SEQ,
    RunOut,
    RunPage,
    RunStatus,
    StepList,
    StepOut,
)

router = new_router("/runs", tags=["runs"])

_SSE_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-sent events. Each durable event has `id: <seq>`; "
        "`message.delta` events have no id. The stream ends after `run.completed`, "
        "`run.failed`, `run.cancelled` or `run.interrupted`.",
        "content": {
            "text/event-stream": {
                "example": 'id: 3\nevent: step.completed\ndata: {"node": "a", "output": 1}\n\n'
            }
        },
    }
}


_SETTLE_S = 5.0


@router.get("", response_model=RunPage)
async def list_runs(
    principal: Reader,
    session: SessionDep,
    agent_id: uuid.UUID | None = None,
    thread_id: uuid.UUID | None = None,
    parent_run_id: uuid.UUID | None = None,
    status: RunStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> RunPage:
    """Runs in the spaces the caller can see, newest first (``parent_run_id``: the sub-agent
    runs a run started)."""
    page = await service.list_runs(
        session, principal, agent_id=agent_id, thread_id=thread_id, status=status,
        limit=limit, cursor=cursor, parent_run_id=parent_run_id,
    )  # fmt: skip
    return RunPage(
        items=[RunOut.model_validate(r) for r in page.items], next_cursor=page.next_cursor
    )


@router.get("/{run_id}", response_model=RunOut)
async def get_run(run_id: uuid.UUID, principal: Reader, session: SessionDep) -> RunOut:
    """One run: status, inputs, output or error, interrupt payload, timings, tokens, cost."""
    return RunOut.model_validate(await service.get_run(session, principal, run_id))


@router.get("/{run_id}/steps", response_model=StepList)
async def list_steps(run_id: uuid.UUID, principal: Reader, session: SessionDep) -> StepList:
    """Every step attempt of the run with inputs, outputs, errors, timings, tokens, cost."""
    rows = await service.list_steps(session, principal, run_id)
    return StepList(items=[StepOut.of(r) for r in rows])


@router.post("/{run_id}/cancel", response_model=RunOut)
async def cancel_run(run_id: uuid.UUID, principal: Runner, session: SessionDep) -> RunOut:
    """Ask the run to stop. A pending run is cancelled at once; a running one within moments."""
    return RunOut.model_validate(await service.cancel_run(session, principal, run_id))


@router.get("/{run_id}/events", responses=_SSE_DOC, response_class=EventSourceResponse)
async def run_events(
    run_id: uuid.UUID,
    principal: Reader,
    session: SessionDep,
    runtime: RuntimeDep,
    after_seq: Annotated[int, Query(ge=0, le=MAX_SEQ)] = 0,
    include_deltas: bool = True,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
) -> EventSourceResponse:
    """Replay the run's stored events after `after_seq` (or `Last-Event-ID`), then follow it
    live until it stops."""
    after_seq = max(after_seq, sse.last_event_id(last_event_id, maximum=MAX_SEQ))
    run = await service.get_run(session, principal, run_id)
    await session.commit()  # hold no transaction (nor SQLite's write lock) while streaming

    async def events() -> AsyncIterator[dict[str, Any]]:
        try:
            async for item in service.stream_events(
                runtime, run, run_id, after_seq=after_seq, include_deltas=include_deltas
            ):
                if item.is_terminal:
                    # The journal has the event before the worker stores the run's result;
                    # wait for it, so a client that reads the run after this event sees it.
                    with contextlib.suppress(TimeoutError):
                        await service.wait_for_run(runtime, run_id, timeout_s=_SETTLE_S)
                yield sse.message(item.type, item.data, id=item.seq)
        except AppError as exc:  # e.g. shutting down: a final event says why the stream ends
            yield sse.message("error", {"type": exc.type, "detail": exc.detail})

    return EventSourceResponse(events(), ping=sse.PING_S)
