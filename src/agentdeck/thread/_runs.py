"""Runs in LangGraph's shape, on top of `agentdeck.run.service` (which owns execution).

An assistant (or agent name) picks the agent and version; its `config` and `context` are
merged under the request's. `input` becomes the agent's inputs; `command={"resume": v}`
answers an interrupted thread.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from agentdeck.assistant import service as assistants
from agentdeck.auth.principal import Principal
from agentdeck.errors import AppError, NotFound
from agentdeck.kit.db import read_only
from agentdeck.kit.sse import frame
from agentdeck.models import Run, Thread
from agentdeck.run import service as runs
from agentdeck.runtime import Runtime
from agentdeck.thread._sse import Translator
from agentdeck.thread.schemas import RunCreate, RunOut
from agentdeck.thread.service import as_interrupt

log = structlog.get_logger(__name__)
_SETTLE_S = 30.0

STATUS = {
    "pending": "pending",
    "running": "running",
    "completed": "success",
    "failed": "error",
    "interrupted": "interrupted",
    "cancelled": "interrupted",
}


def run_out(run: Run) -> RunOut:
    """LangGraph's `Run` (a cancelled run is `interrupted` with a `cancel_reason`)."""
    return RunOut(
        run_id=str(run.id),
        thread_id=str(run.thread_id) if run.thread_id else None,
        assistant_id=str(run.assistant_id) if run.assistant_id else None,
        created_at=run.created_at,
        updated_at=run.updated_at,
        status=STATUS.get(run.status, run.status),
        metadata=run.metadata_ or {},
        multitask_strategy=run.multitask_strategy,
        agent_id=str(run.agent_id),
        agent_version=run.agent_version,
        cancel_reason="cancelled" if run.status == "cancelled" else None,
    )


async def start(
    session: AsyncSession, principal: Principal, body: RunCreate, thread: Thread | None
) -> tuple[Run, dict[str, Any]]:
    """Create the run (pending; the caller commits) and the state its stream starts from."""
    assistant, agent = await assistants.resolve_with_agent(session, principal, body.assistant_id)
    config = {**(assistant.config or {}), **(body.config or {})}
    context = {**(assistant.context or {}), **(body.context or {})}
    if context:
        config["context"] = context
    run = await runs.create_run(
        session,
        principal,
        agent_id=assistant.agent_id,
        agent=agent,
        agent_version=assistant.agent_version,
        inputs=body.input,
        thread_id=thread.id if thread is not None else None,
        assistant_id=assistant.id,
        command=body.command,
        config=config,
        metadata=body.metadata,
        multitask_strategy=body.multitask_strategy or "reject",
    )
    if thread is not None and thread.assistant_id is None:
        thread.assistant_id = assistant.id
    seed: dict[str, Any] = {"inputs": run.inputs, "steps": {}, "output": None}
    if thread is not None and body.command is not None and thread.values:
        seed = {**thread.values, "inputs": run.inputs, "output": None}
    return run, seed


async def get_on_thread(
    session: AsyncSession, principal: Principal, thread: Thread, run_id: uuid.UUID
) -> Run:
    """A visible run of this thread. Raises :class:`NotFound`."""
    run = await runs.get_run(session, principal, run_id)
    if run.thread_id != thread.id:
        raise NotFound("run not found")
    return run


async def values_of(session: AsyncSession, principal: Principal, run: Run) -> dict[str, Any]:
    """The run's state `{inputs, steps, output}` (with `__interrupt__` / `__error__`)."""
    steps = await runs.step_outputs(session, principal, run)
    values: dict[str, Any] = {"inputs": run.inputs, "steps": steps, "output": run.output}
    if run.status == "interrupted" and run.interrupt:
        values["__interrupt__"] = [as_interrupt(run.interrupt, run.id)]
    if run.status == "failed":
        error = run.error or {}
        values["__error__"] = {
            "error": error.get("kind", "error"),
            "message": error.get("message", ""),
        }
    return values


async def wait_values(
    runtime: Runtime,
    session: AsyncSession,
    principal: Principal,
    run_id: uuid.UUID,
    *,
    known: str | None = None,
) -> dict[str, Any]:
    """Wait until the run stops (commit first: hold no transaction); its final state, read
    in one transaction. ``known``: the status the caller just saw (it created the run)."""
    await runs.wait_until_stopped(runtime, run_id, known=known)
    session.expire_all()  # the worker changed the run and its steps meanwhile
    await read_only(session)
    return await values_of(session, principal, await runs.get_run(session, principal, run_id))


async def sse(
    runtime: Runtime,
    principal: Principal,
    run_id: uuid.UUID,
    translator: Translator,
    *,
    after_seq: int = 0,
) -> AsyncIterator[str]:
    """The run's events as LangGraph SSE messages: `metadata`, the modes, then `end`."""
    yield translator.start()
    try:
        async for item in runs.stream_events(
            runtime,
            principal,
            run_id,
            after_seq=after_seq,
            include_deltas=translator.wants_deltas,
        ):
            if item.is_terminal:
                # The journal has the event before the worker stores the run's result; wait
                # for it, so a client that reads the thread after `end` sees the new state.
                with contextlib.suppress(TimeoutError):
                    await runs.wait_for_run(runtime, run_id, timeout_s=_SETTLE_S)
            for message in translator.translate(item):
                yield message
    except AppError as exc:
        yield frame("error", {"error": exc.type, "message": exc.detail})
        return
    except Exception:
        log.exception("thread.stream_failed", run_id=str(run_id))
        yield frame("error", {"error": "internal", "message": "the stream failed"})
        return
    if not translator.failed:
        yield translator.end()
