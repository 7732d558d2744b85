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
from agentdeck.thread import service
from agentdeck.thread._run_endpoints import router as runs_router
from agentdeck.thread.schemas import (
    ThreadCreate,
    ThreadHistoryRequest,
    ThreadOut,
    ThreadSearch,
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


@router.post("/threads/{thread_id}/history", response_model=list[ThreadStateOut])
async def get_thread_history(
    thread_id: ThreadId, body: ThreadHistoryRequest, principal: Reader, session: SessionDep
) -> list[dict[str, Any]]:
    """Past states, newest first. Only the current state is kept (one checkpoint)."""
    thread = await service.get(session, principal, thread_id)
    state = await service.state(session, principal, thread)
    return [state.model_dump()] if thread.values is not None and body.limit >= 1 else []


router.include_router(runs_router)
