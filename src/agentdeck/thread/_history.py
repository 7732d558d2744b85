"""A thread's checkpoints, rebuilt from its runs' step journals (LangGraph's history).

LangGraph stores a checkpoint per super-step. Our journal already holds every step's output,
so the checkpoints are derived, not stored: for each run on the thread (oldest first) an
``input`` checkpoint (the run's inputs, the steps it inherited) and one ``loop`` checkpoint
per finished top-level step, in the order the steps ended. A resumed run inherits its
predecessor's steps as copies (finished before the run was created); they seed its values
instead of appearing twice. Checkpoint ids are stable UUIDs derived from (run, position).
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from agentdeck.auth.principal import Principal
from agentdeck.models import Run, Thread
from agentdeck.run import service as runs

_NS = uuid.UUID("0b8f4b8e-6a55-4c59-9a3c-5bd1f1a2c0de")
MAX_RUNS = 200
"""Runs of a thread looked at for its history (the newest ones)."""


@dataclass
class Checkpoint:
    id: str
    run: Run
    step: int
    source: str
    values: dict[str, Any]
    writes: dict[str, Any] | None
    next: list[str]
    created_at: str | None
    parent_id: str | None = None
    tasks: list[dict[str, Any]] = field(default_factory=list)
    interrupts: list[dict[str, Any]] = field(default_factory=list)

    def config(self, thread_id: uuid.UUID) -> dict[str, Any]:
        return {
            "thread_id": str(thread_id),
            "checkpoint_ns": "",
            "checkpoint_id": self.id,
            "checkpoint_map": None,
        }


def checkpoint_id(run_id: uuid.UUID, position: int) -> str:
    return str(uuid.uuid5(_NS, f"{run_id}:{position}"))


async def checkpoints(
    session: AsyncSession, principal: Principal, thread: Thread
) -> list[Checkpoint]:
    """Every checkpoint of the thread, oldest first."""
    page = await runs.list_runs(session, principal, thread_id=thread.id, limit=MAX_RUNS)
    found: list[Checkpoint] = []
    for run in reversed(page.items):
        found.extend(await _of_run(session, principal, run))
    for parent, child in itertools.pairwise(found):
        child.parent_id = parent.id
    return found


async def newest(session: AsyncSession, principal: Principal, thread: Thread) -> Checkpoint | None:
    """The thread's newest checkpoint, with its parent: reads the steps of at most the two
    newest runs (the current state needs no more than that)."""
    page = await runs.list_runs(session, principal, thread_id=thread.id, limit=2)
    if not page.items:
        return None
    points = await _of_run(session, principal, page.items[0])
    last = points[-1]
    if len(points) > 1:
        last.parent_id = points[-2].id
    elif len(page.items) > 1:
        last.parent_id = (await _of_run(session, principal, page.items[1]))[-1].id
    return last


async def _of_run(session: AsyncSession, principal: Principal, run: Run) -> list[Checkpoint]:
    rows = [
        r
        for r in await runs.list_steps(session, principal, run.id)
        if r.item_index == -1 and r.status in ("completed", "interrupted")
    ]
    inherited = [r for r in rows if r.ended_at is not None and r.ended_at < run.created_at]
    own = sorted(
        (r for r in rows if r not in inherited),
        key=lambda r: (r.ended_at or run.created_at, r.id),
    )
    steps = {r.node_id: r.output for r in inherited if r.status == "completed"}
    inputs = run.inputs if run.inputs is not None else {}
    first_next = [own[0].node_id] if own else []
    points = [
        Checkpoint(
            id=checkpoint_id(run.id, 0),
            run=run,
            step=-1,
            source="input",
            values={"inputs": inputs, "steps": dict(steps), "output": None},
            writes=None,
            next=first_next,
            created_at=run.created_at.isoformat(),
        )
    ]
    for position, row in enumerate(own, start=1):
        if row.status == "completed":
            steps[row.node_id] = row.output
        last = position == len(own)
        output = run.output if last and run.status == "completed" else None
        nxt = [own[position].node_id] if not last else []
        if row.status == "interrupted":
            nxt = [row.node_id]
        points.append(
            Checkpoint(
                id=checkpoint_id(run.id, position),
                run=run,
                step=position - 1,
                source="loop",
                values={"inputs": inputs, "steps": dict(steps), "output": output},
                writes={row.node_id: row.output} if row.status == "completed" else None,
                next=nxt,
                created_at=(row.ended_at or run.created_at).isoformat(),
            )
        )
    return points


def parent_config(thread: Thread, parent_id: str | None) -> dict[str, Any] | None:
    if parent_id is None:
        return None
    return {"thread_id": str(thread.id), "checkpoint_ns": "", "checkpoint_id": parent_id}


def as_state(point: Checkpoint, thread: Thread) -> dict[str, Any]:
    """The checkpoint as LangGraph's `ThreadState`."""
    return {
        "values": point.values,
        "next": point.next,
        "checkpoint": point.config(thread.id),
        "metadata": {
            "run_id": str(point.run.id),
            "source": point.source,
            "step": point.step,
            "writes": point.writes,
            "parents": {},
            **(thread.metadata_ or {}),
        },
        "created_at": point.created_at,
        "parent_checkpoint": parent_config(thread, point.parent_id),
        "tasks": point.tasks,
        "interrupts": point.interrupts,
    }


def matches_metadata(state: dict[str, Any], wanted: dict[str, Any] | None) -> bool:
    """True when every key of ``wanted`` has that value in the state's metadata."""
    metadata = state["metadata"]
    return all(metadata.get(k) == v for k, v in (wanted or {}).items())
