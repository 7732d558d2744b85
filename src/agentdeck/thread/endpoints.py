"""/api/v1/threads (and stateless /api/v1/runs/stream|wait): LangGraph-server-shaped.

Full paths on a router without prefix, because the stateless run routes live beside the
platform's `/runs` router; they only add `POST /runs/stream` and `POST /runs/wait`.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Path, Response, status

from agentdeck.api import SessionDep, new_router
from agentdeck.auth.principal import Reader, Runner
from agentdeck.errors import InvalidInput
from agentdeck.thread import service
from agentdeck.thread._run_endpoints import router as runs_router
from agentdeck.thread.schemas import (
    ThreadCreate,
    ThreadHistoryRequest,
    ThreadOut,
    ThreadSearch,
    ThreadStateAtRequest,
    ThreadStateOut,
    ThreadUpdate,
)

router = new_router(tags=["threads"])

ThreadId = Annotated[uuid.UUID, Path()]


@router.post("/threads", response_model=ThreadOut)
async def create_thread(body: ThreadCreate, principal: Runner, session: SessionDep) -> ThreadOut:
    """Create a thread in `metadata.space_id`, else in the one space an API key is limited
    to, else in your personal space."""
    return service.to_out(await service.create(session, principal, body))


@router.post("/threads/search", response_model=list[ThreadOut])
async def search_threads(
    body: ThreadSearch, principal: Reader, session: SessionDep
) -> list[ThreadOut]:
    """Visible threads filtered by `ids`, `status`, `metadata` and `values` (offset paging)."""
    threads = await service.search(session, principal, body)
    out = []
    for thread in threads:
        run_id = await service.last_run_id(session, principal, thread)
        out.append(service.to_out(thread, run_id))
    return out


@router.get("/threads/{thread_id}", response_model=ThreadOut)
async def get_thread(thread_id: ThreadId, principal: Reader, session: SessionDep) -> ThreadOut:
    """One thread with its latest values and pending interrupts."""
    thread = await service.get(session, principal, thread_id)
    return service.to_out(thread, await service.last_run_id(session, principal, thread))


@router.patch("/threads/{thread_id}", response_model=ThreadOut)
async def update_thread(
    thread_id: ThreadId, body: ThreadUpdate, principal: Runner, session: SessionDep
) -> ThreadOut:
    """Merge `metadata` into the thread's metadata."""
    thread = await service.update(session, principal, thread_id, body)
    return service.to_out(thread, await service.last_run_id(session, principal, thread))


@router.delete("/threads/{thread_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_thread(thread_id: ThreadId, principal: Runner, session: SessionDep) -> Response:
    """Delete a thread and its runs (409 while a run is in progress)."""
    await service.delete(session, principal, thread_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/threads/{thread_id}/state", response_model=ThreadStateOut)
async def get_thread_state(
    thread_id: ThreadId, principal: Reader, session: SessionDep
) -> ThreadStateOut:
    """The current state: `values` `{inputs, steps, output}`, `next`, `tasks`, interrupts."""
    thread = await service.get(session, principal, thread_id)
    return await service.state(session, principal, thread)


@router.post("/threads/{thread_id}/state/checkpoint", response_model=ThreadStateOut)
async def get_thread_state_at(
    thread_id: ThreadId, body: ThreadStateAtRequest, principal: Reader, session: SessionDep
) -> dict[str, Any]:
    """The state at one checkpoint of `history` (404 for an unknown checkpoint)."""
    thread = await service.get(session, principal, thread_id)
    if not body.checkpoint.checkpoint_id:
        raise InvalidInput("say which checkpoint", field="checkpoint.checkpoint_id")
    return await service.state_at(session, principal, thread, body.checkpoint.checkpoint_id)


@router.post("/threads/{thread_id}/history", response_model=list[ThreadStateOut])
async def get_thread_history(
    thread_id: ThreadId, body: ThreadHistoryRequest, principal: Reader, session: SessionDep
) -> list[dict[str, Any]]:
    """Past states, newest first: each run's input and one checkpoint per finished step,
    rebuilt from the run journals. `before` pages back, `metadata` filters."""
    thread = await service.get(session, principal, thread_id)
    return await service.history(
        session, principal, thread, limit=body.limit, before=body.before_id,
        metadata=body.metadata,
    )  # fmt: skip


router.include_router(runs_router)
