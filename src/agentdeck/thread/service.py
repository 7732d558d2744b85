"""Thread rules and the LangGraph views of a thread (`Thread`, `ThreadState`).

A thread lives in one space: ``metadata.space_id`` when given, else the one space an API key
is limited to, else the caller's personal space. Viewers read threads; editors (or API keys
with the `run` scope) create, change and delete them, as they run agents. A thread's
``values`` are ``{inputs, steps: {node: output}, output}``, written by the worker.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from agentdeck.assistant.service import matches
from agentdeck.audit import service as audit
from agentdeck.auth.principal import Principal, require_runner
from agentdeck.errors import Conflict, InvalidInput, NotFound
from agentdeck.kit.db import utcnow
from agentdeck.kit.ids import parse_uuid
from agentdeck.memory import service as memory
from agentdeck.models import Thread
from agentdeck.run import service as runs
from agentdeck.thread import _history
from agentdeck.thread.repository import ThreadRepository
from agentdeck.thread.schemas import (
    ThreadCreate,
    ThreadOut,
    ThreadSearch,
    ThreadStateOut,
    ThreadUpdate,
)


async def _space_for(
    repo: ThreadRepository, principal: Principal, metadata: dict[str, Any]
) -> uuid.UUID:
    wanted = metadata.get("space_id")
    if wanted is not None:
        space_id = parse_uuid(str(wanted))
        if space_id is None or not principal.scope.can_see_space(space_id):
            raise NotFound("space not found", field="metadata.space_id")
        return space_id
    visible = principal.scope.space_ids
    if principal.api_key_id is not None and len(visible) == 1:
        return next(iter(visible))
    personal = await repo.personal_space(principal.user_id)
    if personal is None:
        raise InvalidInput("say which space with metadata.space_id", field="metadata.space_id")
    return personal


async def create(
    session: AsyncSession,
    principal: Principal,
    body: ThreadCreate,
    *,
    new_id: uuid.UUID | None = None,
) -> Thread:
    """A new idle thread. With ``thread_id`` of a visible thread, ``if_exists="do_nothing"``
    returns it and anything else is :class:`Conflict`; a new thread gets a fresh id, or
    ``new_id`` (an id the caller derived, e.g. from a chat client's conversation)."""
    repo = ThreadRepository(session, principal.scope)
    if body.thread_id:
        wanted = parse_uuid(body.thread_id)
        existing = await repo.get(wanted) if wanted is not None else None
        if existing is not None:
            if body.if_exists == "do_nothing":
                return existing
            raise Conflict("the thread already exists", field="thread_id")
    metadata = dict(body.metadata or {})
    space_id = await _space_for(repo, principal, metadata)
    require_runner(principal, space_id, "space")
    thread = Thread(org_id=principal.org_id, space_id=space_id, status="idle", metadata_=metadata)
    if new_id is not None:
        thread.id = new_id
    repo.add(thread)
    await session.flush()
    audit.record(
        session,
        org_id=principal.org_id,
        actor=principal.actor,
        action="thread.created",
        target_type="thread",
        target_id=thread.id,
        changes={"space_id": space_id},
    )
    return thread


async def get(session: AsyncSession, principal: Principal, thread_id: uuid.UUID) -> Thread:
    """A visible thread. Raises :class:`NotFound`."""
    thread = await ThreadRepository(session, principal.scope).get(thread_id)
    if thread is None:
        raise NotFound("thread not found")
    return thread


async def update(
    session: AsyncSession, principal: Principal, thread_id: uuid.UUID, body: ThreadUpdate
) -> Thread:
    """Merge ``metadata`` into the thread's metadata."""
    thread = await get(session, principal, thread_id)
    require_runner(principal, thread.space_id, "thread")
    if body.metadata:
        thread.metadata_ = {**(thread.metadata_ or {}), **body.metadata}
        thread.updated_at = utcnow()
    return thread


async def delete(session: AsyncSession, principal: Principal, thread_id: uuid.UUID) -> None:
    """Delete a thread with its runs. A thread with a run in progress is :class:`Conflict`."""
    thread = await get(session, principal, thread_id)
    require_runner(principal, thread.space_id, "thread")
    if thread.status == "busy":
        raise Conflict("the thread has a run in progress; cancel it first")
    if thread.status == "interrupted":  # its waiting run leaves the approvals inbox
        runs.approvals_changed_after_commit(session, thread.org_id)
    await ThreadRepository(session, principal.scope).delete(thread)
    audit.record(
        session,
        org_id=principal.org_id,
        actor=principal.actor,
        action="thread.deleted",
        target_type="thread",
        target_id=thread.id,
    )


async def search(session: AsyncSession, principal: Principal, body: ThreadSearch) -> list[Thread]:
    """Visible threads matching the filters (metadata and values: exact top-level keys)."""
    ids = None
    if body.ids is not None:
        ids = [i for i in (parse_uuid(s) for s in body.ids) if i is not None]
    rows = await ThreadRepository(session, principal.scope).search(
        ids=ids, status=body.status, sort_by=body.sort_by, descending=body.sort_order != "asc"
    )
    hits = [
        t for t in rows if matches(t.metadata_, body.metadata) and matches(t.values, body.values)
    ]
    return hits[body.offset : body.offset + body.limit]


def interrupt_id(run_id: object, node: str) -> str:
    """A stable id for a run's interrupt at ``node`` (also its task id)."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"agentdeck:{run_id}:{node}").hex


def as_interrupt(payload: dict[str, Any], run_id: object) -> dict[str, Any]:
    """An engine interrupt payload (`{node, message, schema}`) as LangGraph's `Interrupt`."""
    if "value" in payload and "id" in payload:
        return payload
    node = str(payload.get("node", ""))
    value = {k: v for k, v in payload.items() if k != "schema" and v is not None}
    out: dict[str, Any] = {"value": value, "id": interrupt_id(run_id, node)}
    if payload.get("schema"):
        out["response_schema"] = payload["schema"]
    return out


def interrupts_of(thread: Thread, run_id: object) -> list[dict[str, Any]]:
    """The thread's pending interrupts, whatever shape the worker stored them in."""
    raw: Any = thread.interrupts or []
    if isinstance(raw, dict):
        raw = [i for items in raw.values() for i in (items or [])]
    if thread.status != "interrupted":
        return []
    return [as_interrupt(i, run_id) for i in raw if isinstance(i, dict)]


def _node_of(interrupt: dict[str, Any]) -> str:
    value = interrupt.get("value")
    return str(value.get("node", "")) if isinstance(value, dict) else ""


def to_out(thread: Thread, run_id: object = None) -> ThreadOut:
    """The LangGraph `Thread` shape (interrupts keyed by task id)."""
    by_task: dict[str, list[dict[str, Any]]] = {}
    for interrupt in interrupts_of(thread, run_id or thread.id):
        by_task.setdefault(interrupt_id(run_id or thread.id, _node_of(interrupt)), []).append(
            interrupt
        )
    return ThreadOut(
        thread_id=str(thread.id),
        created_at=thread.created_at,
        updated_at=thread.updated_at,
        metadata=thread.metadata_ or {},
        status=thread.status,
        values=thread.values,
        interrupts=by_task,
    )


async def last_run_id(
    session: AsyncSession, principal: Principal, thread: Thread
) -> uuid.UUID | None:
    """The id of the thread's newest run (it names the current checkpoint)."""
    page = await runs.list_runs(session, principal, thread_id=thread.id, limit=1)
    return page.items[0].id if page.items else None


async def state(session: AsyncSession, principal: Principal, thread: Thread) -> ThreadStateOut:
    """The thread's current state as LangGraph's `ThreadState` (its newest checkpoint, with
    the thread's values and pending interrupts; for a thread with agent memory, also its
    `messages`, running `summary` and `summary_through`)."""
    newest = await _history.newest(session, principal, thread)
    run_id = newest.run.id if newest else None
    interrupts = interrupts_of(thread, run_id or thread.id)
    tasks = _tasks(interrupts, run_id or thread.id)
    values = {
        **(thread.values or {}),
        **await memory.state_values(session, principal.scope, thread.id),
    }
    checkpoint = {
        "thread_id": str(thread.id),
        "checkpoint_ns": "",
        "checkpoint_id": newest.id if newest else None,
        "checkpoint_map": None,
    }
    parent = _history.parent_config(thread, newest.parent_id if newest else None)
    return ThreadStateOut(
        values=values,
        next=[t["name"] for t in tasks],
        checkpoint=checkpoint,
        metadata={
            "run_id": str(run_id) if run_id else None,
            "source": "loop",
            "step": len(values.get("steps") or {}),
            **(thread.metadata_ or {}),
        },
        created_at=thread.updated_at.isoformat(),
        parent_checkpoint=parent,
        tasks=tasks,
        interrupts=interrupts,
    )


def _tasks(interrupts: list[dict[str, Any]], run_id: object) -> list[dict[str, Any]]:
    return [
        {
            "id": interrupt_id(run_id, _node_of(i)),
            "name": _node_of(i),
            "error": None,
            "interrupts": [i],
            "checkpoint": None,
            "state": None,
            "result": None,
        }
        for i in interrupts
    ]


async def history(
    session: AsyncSession,
    principal: Principal,
    thread: Thread,
    *,
    limit: int,
    before: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Past states, newest first: one per step of each run, plus each run's input.
    ``before`` keeps those older than that checkpoint id (NotFound if it is not one)."""
    points = await _history.checkpoints(session, principal, thread)
    if points and thread.status == "interrupted":
        newest = points[-1]
        newest.interrupts = interrupts_of(thread, newest.run.id)
        newest.tasks = _tasks(newest.interrupts, newest.run.id)
    states = [_history.as_state(p, thread) for p in reversed(points)]
    if before is not None:
        ids = [s["checkpoint"]["checkpoint_id"] for s in states]
        if before not in ids:
            raise NotFound("checkpoint not found", field="before")
        states = states[ids.index(before) + 1 :]
    return [s for s in states if _history.matches_metadata(s, metadata)][:limit]


async def state_at(
    session: AsyncSession, principal: Principal, thread: Thread, checkpoint_id: str
) -> dict[str, Any]:
    """The state at one checkpoint of the thread. Raises NotFound for an unknown id."""
    states = await history(session, principal, thread, limit=10**6)
    for found in states:
        if found["checkpoint"]["checkpoint_id"] == checkpoint_id:
            return found
    raise NotFound("checkpoint not found", field="checkpoint.checkpoint_id")
