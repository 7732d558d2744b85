"""The `run.execute` job: drive one run with the engine, durably, and record how it ended.

Safe to run again for the same run at any time: the engine resumes from the journal (no
completed step runs twice; a step caught mid-flight runs again with the same idempotency
key). A run held back by the per-org limit or by an earlier run on its thread
(`multitask_strategy="enqueue"`) is handed back to the queue without using an attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agentdeck.engine import AgentSpec, Engine, Ports, Resume, ResumeError, RunResult, StepStatus
from agentdeck.engine.journal import StepRecord
from agentdeck.engine.ports import ChatRequest, ChatResult, DeltaCallback
from agentdeck.kit.db import transaction, utcnow
from agentdeck.memory.run_memory import RunMemory
from agentdeck.models import Run, RunEvent
from agentdeck.prompt.resolver import SpacePrompts
from agentdeck.run import _specs
from agentdeck.run.events.bus import APPROVALS_CHANGED, BrokerSink, StreamItem, org_key
from agentdeck.run.journal import SqlJournal, open_journal
from agentdeck.run.llm_port import load_llm_port
from agentdeck.run.ports import ChildRuns, SpaceKnowledge, SpaceTools
from agentdeck.run.repository import (
    FINAL,
    earlier_active_on_thread,
    last_event_seq,
    run_by_id,
    set_run,
    set_thread,
    spec_of,
    thread_by_id,
)
from agentdeck.run.service import CANCEL_SIGNAL, EXECUTE, release_thread
from agentdeck.run.services import LLMContext, RunServices, services_for
from agentdeck.worker import queue
from agentdeck.worker.loop import JobContext

log = structlog.get_logger(__name__)
THREAD_STATUS = {"completed": "idle", "cancelled": "idle", "failed": "error"}

__all__ = ["EXECUTE", "execute"]


async def execute(ctx: JobContext) -> None:
    """Handler of `run.execute` (payload ``{"run_id": ...}``).

    When the job's last attempt fails (or a worker died during it: the lease expired and
    the job came back past its attempts), the run fails with kind `internal` and the reason
    and its thread is freed: no run stays `running` once nothing will execute it. Raises
    what the attempt raised (the queue retries the job, or records its last error).
    """
    run_id = uuid.UUID(str(ctx.job.payload["run_id"]))
    if ctx.job.attempts > ctx.job.max_attempts:
        reason = f"its worker stopped during each of {ctx.job.max_attempts} attempts"
        await _fail_for_good(ctx, run_id, reason)
        return
    try:
        await _execute(ctx, run_id)
    except Exception as exc:
        if ctx.job.attempts >= ctx.job.max_attempts:
            reason = f"{ctx.job.attempts} attempts failed; the last: {type(exc).__name__}: {exc}"
            await _fail_for_good(ctx, run_id, reason)
        raise


async def _fail_for_good(ctx: JobContext, run_id: uuid.UUID, reason: str) -> None:
    """Fail a run that will not be executed again: status, `run.failed`, thread freed."""
    services = services_for(ctx.sessionmaker)
    error = {"kind": "internal", "message": f"the run could not be executed: {reason}"[:2000]}
    async with transaction(ctx.sessionmaker) as session:
        run = await run_by_id(session, run_id)
        if run is None or run.status in FINAL:
            return
        now = utcnow()
        failed = {"status": "failed", "error": error, "ended_at": now, "updated_at": now}
        if not await set_run(session, run.id, when=(run.status,), **failed):
            return  # it moved on meanwhile (e.g. cancelled)
        seq = await last_event_seq(session, run.id) + 1
        data = {"error": error}
        session.add(
            RunEvent(org_id=run.org_id, run_id=run.id, seq=seq, type="run.failed", data=data)
        )
        if run.thread_id is not None:
            thread = await thread_by_id(session, run.thread_id)
            if thread is not None and thread.status == "busy":
                thread.status, thread.updated_at = THREAD_STATUS["failed"], now
            await release_thread(session, run.thread_id)
    services.broker.publish(StreamItem(str(run_id), "run.failed", data, seq))
    services.broker.status_changed(str(run_id), "failed")
    log.warning("run.failed_for_good", run_id=str(run_id), reason=reason)


async def _execute(ctx: JobContext, run_id: uuid.UUID) -> None:
    services = services_for(ctx.sessionmaker)
    async with transaction(ctx.sessionmaker) as session:
        prepared = await _prepare(session, ctx, services, run_id)
    if prepared is None:
        return
    with services.broker.executing(str(run_id)):  # its events are published here
        await _drive(ctx, services, run_id, prepared)


_Prepared = tuple[Run, AgentSpec, "dict[str, Any] | None", object, bool]


async def _drive(
    ctx: JobContext, services: RunServices, run_id: uuid.UUID, prepared: _Prepared
) -> None:
    """Run the engine over the prepared run and record how it ended."""
    run, spec, thread, llm, fresh = prepared
    journal = open_journal(ctx.sessionmaker, run.org_id)
    if fresh:  # `_prepare` committed its run.started as event 1
        journal.known_new(str(run_id), last_seq=1)
    tools = SpaceTools(
        ctx.sessionmaker, services.cipher, org_id=run.org_id, space_id=run.space_id,
        run_id=run.id, user_id=run.user_id, api_key_id=run.api_key_id,
    )  # fmt: skip
    ports = Ports(
        llm=llm,  # type: ignore[arg-type]
        tools=tools,
        retrieval=SpaceKnowledge(ctx.sessionmaker, org_id=run.org_id, space_id=run.space_id),
        subagents=ChildRuns(ctx.sessionmaker),
        prompts=SpacePrompts(
            ctx.sessionmaker, org_id=run.org_id, space_id=run.space_id, user_id=run.user_id
        ),
        memory=RunMemory(
            ctx.sessionmaker,
            org_id=run.org_id,
            space_id=run.space_id,
            thread_id=run.thread_id,
            user_id=run.user_id,
            api_key_id=run.api_key_id,
            end_user=(run.metadata_ or {}).get("end_user"),
        ),
        http=services.http(),
        allow_private_network=services.settings.allow_private_network,
    )
    sink = BrokerSink(services.broker, journal.when_durable)
    if fresh:
        await sink.publish(str(run_id), 1, "run.started", {"resumed": False})
    engine = Engine(
        journal, ports=ports, events=sink, max_concurrency=services.settings.max_concurrency
    )
    cancel = asyncio.Event()
    if run.cancel_requested:
        cancel.set()
    watcher = asyncio.create_task(_watch_cancel(ctx.sessionmaker, services, run_id, cancel))
    try:
        resume = await _pending_resume(journal, run)
        result = await engine.run(
            spec, str(run_id), run.inputs, resume=resume, thread=thread, cancel=cancel,
            started=fresh,
        )  # fmt: skip
    except ResumeError as exc:
        error = {"kind": "resume", "message": str(exc)}
        seq = await journal.append_event(str(run_id), "run.failed", {"error": error})
        await sink.publish(str(run_id), seq, "run.failed", {"error": error})
        result = RunResult("failed", error=error)
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        await tools.aclose()
    records = await journal.load(str(run_id))
    async with transaction(ctx.sessionmaker) as session:
        await _record_result(session, run, result, records)
        await ctx.finish(session)  # the job is done in the same commit
    services.broker.status_changed(str(run_id), result.status)  # queued: `release_thread`
    if result.status == "interrupted":  # it waits for an answer: its org's inbox changed
        services.broker.publish(StreamItem(org_key(run.org_id), APPROVALS_CHANGED, {}))
    log.info("run.finished", run_id=str(run_id), status=result.status)


async def _prepare(
    session: AsyncSession, ctx: JobContext, services: RunServices, run_id: uuid.UUID
) -> _Prepared | None:
    """Load the run and mark it running; None when there is nothing to do now. The last
    item says the run starts for the first time with no inherited (resumed) steps."""
    run = await run_by_id(session, run_id)
    if run is None or run.status in FINAL:
        return None
    fresh = run.status == "pending" and run.started_at is None and not run.command
    if run.status == "pending":
        if await held_back_by_thread(session, services, run):
            await queue.requeue(session, ctx.job, services.settings.requeue_delay_s)
            return None
        started = {"status": "running", "started_at": run.started_at or utcnow()}
        if not await set_run(session, run.id, when=("pending",), **started):
            return None
        run.status = "running"
    spec = await _spec(session, run)
    if spec is None:
        error = {"kind": "invalid_input", "message": "the agent version no longer exists"}
        await set_run(session, run.id, status="failed", error=error, ended_at=utcnow())
        return None
    if fresh:  # the run's first event commits with its running status: one commit, not two
        started_event = RunEvent(
            org_id=run.org_id, run_id=run.id, seq=1, type="run.started", data={"resumed": False}
        )
        session.add(started_event)
    thread_ctx = None
    if run.thread_id is not None:
        thread = await thread_by_id(session, run.thread_id)
        if thread is not None:
            thread.status = "busy"
            thread_ctx = {
                "id": str(thread.id),
                "values": thread.values or {},
                "metadata": thread.metadata_,
            }
    llm_ctx = LLMContext(
        org_id=run.org_id, space_id=run.space_id, run_id=run.id, agent_id=run.agent_id,
        user_id=run.user_id, api_key_id=run.api_key_id,
    )  # fmt: skip
    if services.llm_factory is None and services.cipher is not None and run.user_id is not None:
        llm: object = LazyOrgLLM(ctx.sessionmaker, services, llm_ctx)
    else:  # no query: the injected factory's port, or the configuration error
        llm = await load_llm_port(session, services, llm_ctx)
    return run, spec, thread_ctx, llm, fresh


async def _spec(session: AsyncSession, run: Run) -> AgentSpec | None:
    """The run's agent version, parsed (kept per process: `_specs`)."""
    return await _specs.load(
        run.agent_id, run.agent_version, lambda: spec_of(session, run.agent_id, run.agent_version)
    )


class LazyOrgLLM:
    """The org's LLM port, loaded on the run's first model call: the three catalog queries
    (providers, aliases, overrides) stay off the start of every run, and runs that call no
    model never make them."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        services: RunServices,
        ctx: LLMContext,
    ) -> None:
        self._sessionmaker, self._services, self._ctx = sessionmaker, services, ctx
        self._port: Any = None
        self._lock = asyncio.Lock()

    async def _loaded(self) -> Any:
        async with self._lock:
            if self._port is None:
                async with transaction(self._sessionmaker) as session:
                    self._port = await load_llm_port(session, self._services, self._ctx)
        return self._port

    async def chat(self, request: ChatRequest) -> ChatResult:
        result: ChatResult = await (await self._loaded()).chat(request)
        return result

    async def stream(self, request: ChatRequest, on_delta: DeltaCallback) -> ChatResult:
        result: ChatResult = await (await self._loaded()).stream(request, on_delta)
        return result


async def held_back_by_thread(session: AsyncSession, services: RunServices, run: Run) -> bool:
    """True when the run must wait for an earlier run of its thread
    (``multitask_strategy="enqueue"``); that run's end makes it due again (`release_thread`)."""
    return run.multitask_strategy == "enqueue" and await earlier_active_on_thread(session, run)


async def _pending_resume(journal: SqlJournal, run: Run) -> Resume | None:
    """The resume answer, unless an earlier attempt of this job already recorded it."""
    if not run.command or "resume" not in run.command:
        return None
    latest: dict[str, StepRecord] = {}
    for record in await journal.load(str(run.id)):
        if record.index is None:
            latest[record.node_id] = record
    if any(r.status is StepStatus.INTERRUPTED for r in latest.values()):
        return Resume(run.command["resume"])
    return None


async def _watch_cancel(
    sessionmaker: async_sessionmaker[AsyncSession],
    services: RunServices,
    run_id: uuid.UUID,
    cancel: asyncio.Event,
) -> None:
    """Set ``cancel`` when cancellation is requested: the API's signal, in this process or
    relayed, or (where nothing relays it) the run row's flag as the bus's watcher reads it.

    The row was just read by `_prepare` (its flag is applied by the caller).
    """
    bus = services.broker
    with bus.subscribe(str(run_id)) as signals:
        if not await bus.ready(str(run_id)):
            bus.watch(sessionmaker)
        while (await signals.get()).type != CANCEL_SIGNAL:
            pass
        cancel.set()


async def _record_result(
    session: AsyncSession, run: Run, result: RunResult, records: list[StepRecord]
) -> None:
    tokens_in = sum(r.usage.tokens_in for r in records)
    tokens_out = sum(r.usage.tokens_out for r in records)
    cost = sum(r.usage.cost_usd for r in records)
    await set_run(
        session, run.id, status=result.status, output=result.output, error=result.error,
        interrupt=result.interrupt, ended_at=utcnow(), tokens_in=tokens_in,
        tokens_out=tokens_out, cost_usd=cost, updated_at=utcnow(),
    )  # fmt: skip
    if run.thread_id is None:
        return
    steps: dict[str, Any] = {}
    for record in records:
        if record.index is None and record.status is StepStatus.COMPLETED:
            steps[record.node_id] = record.output
    values = {"inputs": run.inputs, "steps": steps, "output": result.output}
    status = THREAD_STATUS.get(result.status, "interrupted")
    interrupts = [result.interrupt] if result.interrupt is not None else []
    await set_thread(
        session, run.thread_id, status=status, values=values, interrupts=interrupts,
        updated_at=utcnow(),
    )  # fmt: skip
    await release_thread(session, run.thread_id)
