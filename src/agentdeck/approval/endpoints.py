"""/api/v1/approvals: the inbox of runs waiting for an answer, and its live feed (SSE)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sse_starlette import EventSourceResponse

from agentdeck.api import RuntimeDep, SessionDep, new_router
from agentdeck.approval import service
from agentdeck.approval.schemas import ApprovalList, ApprovalOut, ApprovalRemoved
from agentdeck.auth.principal import Reader
from agentdeck.errors import AppError
from agentdeck.kit import sse

router = new_router("/approvals", tags=["approvals"])

_SSE_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-sent events: `snapshot` first (`{items}`: the inbox, as "
        "`GET /approvals` lists it), then `added` (one entry) and `removed` (`{run_id}`) "
        "as runs are interrupted and answered. Events carry no id: a client that "
        "reconnects gets a fresh `snapshot`. When the server shuts down, an `error` event "
        "ends the stream.",
        "content": {
            "text/event-stream": {
                "example": 'event: removed\ndata: {"run_id": '
                '"0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e11"}\n\n'
            }
        },
    }
}


def _entry(waiting: service.Waiting) -> ApprovalOut:
    return ApprovalOut.of(waiting.run, waiting.agent_name)


@router.get("", response_model=ApprovalList)
async def list_approvals(principal: Reader, session: SessionDep) -> ApprovalList:
    """Runs of the caller's spaces waiting at a human step or a tool approval, newest first."""
    return ApprovalList(items=[_entry(w) for w in await service.list_waiting(session, principal)])


@router.get("/stream", responses=_SSE_DOC, response_class=EventSourceResponse)
async def stream_approvals(
    principal: Reader, session: SessionDep, runtime: RuntimeDep
) -> EventSourceResponse:
    """The inbox, then each entry that appears or goes, live."""
    await session.commit()  # hold no transaction (nor SQLite's write lock) while streaming

    async def events() -> AsyncIterator[dict[str, Any]]:
        try:
            async for change in service.follow(runtime, principal):
                yield sse.message_json(change.kind, _data(change))
        except AppError as exc:  # e.g. shutting down: a final event says why the stream ends
            yield sse.message("error", {"type": exc.type, "detail": exc.detail})

    return EventSourceResponse(events(), ping=sse.PING_S)


def _data(change: service.Change) -> str:
    if change.kind == "removed" and change.run_id is not None:
        return ApprovalRemoved(run_id=change.run_id).model_dump_json()
    if change.kind == "added":
        return _entry(change.entries[0]).model_dump_json()
    return ApprovalList(items=[_entry(w) for w in change.entries]).model_dump_json()
