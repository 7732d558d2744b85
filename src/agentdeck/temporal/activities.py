"""The activities of a run's workflow: prepare, record, fail_step, finish, and one dynamic
activity per node kind (activity type `agentdeck.node.<type>`) executing one node attempt.

A node activity runs the node with the embedded engine's executors and ports. Each Temporal
attempt is one journal attempt (the workflow's base attempt plus Temporal's attempt number);
an attempt after the first first looks at the journal: a completed or interrupted attempt
(its worker died before Temporal heard of it) is answered from there and never executed
again. Failures the node's retry policy retries raise an `ApplicationError` with the policy's
delay; a final failure is returned, so the workflow applies `on_error`.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import structlog
from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

from agentdeck.engine.errors import Interrupt, NodeError
from agentdeck.engine.journal import StepRecord, StepStatus, Usage, idempotency_key
from agentdeck.engine.nodes import EXECUTORS, NodeContext, NodeResult
from agentdeck.engine.runner import backoff_delay
from agentdeck.engine.spec import Node
from agentdeck.kit.db import transaction, utcnow
from agentdeck.models import RunEvent
from agentdeck.run.events.bus import APPROVALS_CHANGED, StreamItem, org_key
from agentdeck.run.repository import (
    FINAL,
    last_event_seq,
    run_by_id,
    set_run,
    set_thread,
    thread_by_id,
)
from agentdeck.run.services import RunServices, services_for
from agentdeck.run.tasks import THREAD_STATUS, held_back_by_thread
from agentdeck.temporal._types import (
    Batch,
    CloseStep,
    Finish,
    LostStep,
    NodeOutcome,
    NodeTask,
    Prepared,
    RunMeta,
    Step,
)
from agentdeck.temporal.journal import TemporalJournal, latest, lock_events
from agentdeck.temporal.node_ports import ports_for

log = structlog.get_logger(__name__)
NODE_ACTIVITY = "agentdeck.node."
_NODE: TypeAdapter[Node] = TypeAdapter(Node)
_ANSWERED = (StepStatus.COMPLETED, StepStatus.INTERRUPTED)


def _str(value: object) -> str | None:
    return None if value is None else str(value)


class Activities:
    """The activities of one process, bound to its database."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    @property
    def services(self) -> RunServices:
        return services_for(self.sessionmaker)

    def journal(self, org_id: str) -> TemporalJournal:
        return TemporalJournal(self.sessionmaker, uuid.UUID(org_id), self.services.broker)

    @activity.defn(name="agentdeck.run.prepare")
    async def prepare(self, run_id: str) -> Prepared:
        """Mark the run running (its `run.started` commits with the status, once) and read
        its journal; `held` while the org's limit or an earlier run of its thread holds it
        back, `done` when it ended meanwhile."""
        services = self.services
        started: tuple[int, dict[str, Any]] | None = None
        async with transaction(self.sessionmaker) as session:
            run = await run_by_id(session, uuid.UUID(run_id))
            if run is None or run.status in FINAL:
                return Prepared(action="done")
            if run.status == "pending":
                if await held_back_by_thread(session, services, run):
                    return Prepared(action="held")
                fresh = run.started_at is None and not run.command
                values = {"status": "running", "started_at": run.started_at or utcnow()}
                if not await set_run(session, run.id, when=("pending",), **values):
                    return Prepared(action="done")
                await lock_events(session, run_id)
                data = {"resumed": not fresh}
                seq = await last_event_seq(session, run.id) + 1
                session.add(
                    RunEvent(
                        org_id=run.org_id, run_id=run.id, seq=seq, type="run.started", data=data
                    )
                )
                started = (seq, data)
            thread = None
            if run.thread_id is not None:
                row = await thread_by_id(session, run.thread_id)
                if row is not None:
                    row.status = "busy"
                    thread = {
                        "id": str(row.id),
                        "values": row.values or {},
                        "metadata": row.metadata_,
                    }
            meta = RunMeta(
                org_id=str(run.org_id),
                space_id=str(run.space_id),
                agent_id=str(run.agent_id),
                user_id=_str(run.user_id),
                api_key_id=_str(run.api_key_id),
                thread_id=_str(run.thread_id),
                end_user=_str((run.metadata_ or {}).get("end_user")),
            )
            command, cancelled = run.command, run.cancel_requested
        if started is not None:
            services.broker.publish(StreamItem(run_id, "run.started", started[1], started[0]))
        records = await self.journal(meta.org_id).load(run_id)
        resume: list[Any] = []
        if command and "resume" in command:
            tops = [r for (_, index), r in latest(records).items() if index is None]
            if any(r.status is StepStatus.INTERRUPTED for r in tops):
                resume = [command["resume"]]
        return Prepared(
            action="run",
            meta=meta,
            steps=[Step.of(r) for r in records],
            thread=thread,
            resume=resume,
            cancelled=cancelled,
        )

    @activity.defn(name="agentdeck.run.record")
    async def record(self, batch: Batch) -> bool:
        """Write finished steps and their events, once (False: written before)."""
        records = [s.record(batch.run_id, _key(batch.run_id, s)) for s in batch.steps]
        events = [(e.type, e.data) for e in batch.events]
        return await self.journal(batch.org_id).write(batch.run_id, records, events)

    @activity.defn(name="agentdeck.run.fail_step")
    async def fail_step(self, lost: LostStep) -> Step:
        """Fail a node whose activity gave up (an infrastructure error each attempt): its
        running attempt is closed as failed, else a failed attempt is added."""
        journal = self.journal(lost.org_id)
        records = await journal.node_steps(lost.run_id, lost.node_id, lost.index)
        last = records[-1] if records else None
        event = {"node": lost.node_id, "index": lost.index, "error": lost.error}
        if last is not None and last.status is StepStatus.RUNNING:
            record = StepRecord(
                run_id=lost.run_id,
                node_id=lost.node_id,
                attempt=last.attempt,
                status=StepStatus.FAILED,
                idempotency_key=last.idempotency_key,
                index=lost.index,
                output=lost.output,
                error=lost.error,
            )
            await journal.close(record, [("step.failed", {**event, "attempt": last.attempt})])
            return Step.of(record)
        attempt = (last.attempt if last else 0) + 1
        record = StepRecord(
            run_id=lost.run_id,
            node_id=lost.node_id,
            attempt=attempt,
            status=StepStatus.FAILED,
            idempotency_key=idempotency_key(lost.run_id, lost.node_id, lost.index),
            index=lost.index,
            output=lost.output,
            error=lost.error,
        )
        await journal.write(lost.run_id, [record], [("step.failed", {**event, "attempt": attempt})])
        return Step.of(record)

    @activity.defn(name="agentdeck.run.close_step")
    async def close_step(self, close: CloseStep) -> Step:
        """Finish the attempt the workflow decided (interrupted, failed, cancelled) with its
        events, once: a running record is closed, a missing one added; a finished record
        stays as it is and is answered."""
        journal = self.journal(close.org_id)
        step = close.step
        key = idempotency_key(close.run_id, step.node_id, step.index)
        record = step.record(close.run_id, key)
        events = [(e.type, e.data) for e in close.events]
        for prior in await journal.node_steps(close.run_id, step.node_id, step.index):
            if prior.attempt != step.attempt:
                continue
            if prior.status is StepStatus.RUNNING:
                await journal.close(record, events)
                break
            return Step.of(prior)
        else:
            await journal.write(close.run_id, [record], events)
        return step

    @activity.defn(name="agentdeck.run.finish")
    async def finish(self, end: Finish) -> None:
        """Record how the run ended: its row, its last event and its thread, in one
        transaction and once (a run that ended already, e.g. cancelled while pending, stays)."""
        records = await self.journal(end.org_id).load(end.run_id)
        type_ = f"run.{end.status}"
        data = _end_data(end)
        async with transaction(self.sessionmaker) as session:
            run = await run_by_id(session, uuid.UUID(end.run_id))
            if run is None or run.status in FINAL:
                return
            now = utcnow()
            values = {
                "status": end.status,
                "output": end.output,
                "error": end.error,
                "interrupt": end.interrupt,
                "ended_at": now,
                "updated_at": now,
                "tokens_in": sum(r.usage.tokens_in for r in records),
                "tokens_out": sum(r.usage.tokens_out for r in records),
                "cost_usd": sum(r.usage.cost_usd for r in records),
            }
            if not await set_run(session, run.id, when=(run.status,), **values):
                return
            await lock_events(session, end.run_id)
            seq = await last_event_seq(session, run.id) + 1
            session.add(RunEvent(org_id=run.org_id, run_id=run.id, seq=seq, type=type_, data=data))
            if run.thread_id is not None:
                await _update_thread(session, run.thread_id, run.inputs, end, records)
        broker = self.services.broker
        broker.publish(StreamItem(end.run_id, type_, data, seq))
        broker.status_changed(end.run_id)
        if end.status == "interrupted":  # it waits for an answer: its org's inbox changed
            broker.publish(StreamItem(org_key(run.org_id), APPROVALS_CHANGED, {}))
        broker.wake_workers()
        log.info("run.finished", run_id=end.run_id, status=end.status, engine="temporal")

    @activity.defn(dynamic=True)
    async def node(self, args: Sequence[RawValue]) -> NodeOutcome:
        """One attempt of one node (or for_each item); see the module docstring."""
        task = activity.payload_converter().from_payload(args[0].payload, NodeTask)
        # from the start: its journal writes may wait for the database (SQLite's one writer)
        heart = asyncio.create_task(_heartbeat(activity.info().heartbeat_timeout))
        try:
            return await _NodeAttempt(self, task).run()
        finally:
            heart.cancel()


class _NodeAttempt:
    def __init__(self, owner: Activities, task: NodeTask) -> None:
        self.task = task
        self.info = activity.info()
        self.node = _NODE.validate_python(task.node)
        self.attempt = task.base_attempt + self.info.attempt
        self.key = idempotency_key(task.run_id, self.node.id, task.index)
        self.owner = owner
        self.journal = owner.journal(task.meta.org_id)
        self.event = {"node": self.node.id, "attempt": self.attempt, "index": task.index}

    async def run(self) -> NodeOutcome:
        task, node = self.task, self.node
        failures = 0
        if self.info.attempt > 1:  # an earlier attempt may have finished unheard
            for record in await self.journal.node_steps(task.run_id, node.id, task.index):
                if record.attempt <= task.base_attempt:
                    continue
                if record.status in _ANSWERED:
                    return NodeOutcome(step=Step.of(record), attempts=self.info.attempt)
                failures += record.status is StepStatus.FAILED
        started = StepRecord(
            run_id=task.run_id,
            node_id=node.id,
            attempt=self.attempt,
            status=StepStatus.RUNNING,
            idempotency_key=self.key,
            index=task.index,
            input=task.config,
            started_at=utcnow(),
        )
        await self.journal.write(
            task.run_id, [started], [("step.started", self.event)], finished=False
        )
        try:
            result = await self._execute()
        except Interrupt as interrupt:
            return await self._close(StepStatus.INTERRUPTED, interrupt.payload, None, [])
        except asyncio.CancelledError:
            details = activity.cancellation_details()
            if details is None or not details.worker_shutdown:  # the run was cancelled
                error = NodeError("cancelled", "run cancelled").to_dict()
                await asyncio.shield(self._close(StepStatus.FAILED, None, error, ["step.failed"]))
            raise  # a worker shutting down leaves the attempt running: the next one re-runs it
        except TimeoutError:
            failure = NodeError("timeout", f"no result within {node.timeout}s")
        except NodeError as exc:
            failure = exc
        except Exception as exc:  # a buggy node or port fails its step, not the worker
            failure = NodeError("internal", f"{type(exc).__name__}: {exc}")
        else:
            return await self._close(
                StepStatus.COMPLETED, result.output, None, ["step.completed"], result.usage
            )
        return await self._failed(failure, failures)

    async def _execute(self) -> NodeResult:
        task, node = self.task, self.node
        broker = self.owner.services.broker

        async def emit(type_: str, data: dict[str, Any]) -> None:
            await self.journal.append_event(task.run_id, type_, data)

        async def ephemeral(type_: str, data: dict[str, Any]) -> None:
            broker.publish(StreamItem(task.run_id, type_, data))

        async with ports_for(
            self.owner.sessionmaker, self.owner.services, task.run_id, task.meta
        ) as ports:
            ctx = NodeContext(
                node=node,
                config=task.config,
                run_id=task.run_id,
                idempotency_key=self.key,
                attempt=self.attempt,
                ports=ports,
                emit=emit,
                emit_ephemeral=ephemeral,
                index=task.index,
                sources=tuple(task.sources),
                cite=task.cite,
                resume=task.resume,
            )
            if node.timeout is None:
                return await EXECUTORS[node.type](ctx)
            async with asyncio.timeout(node.timeout):
                return await EXECUTORS[node.type](ctx)

    async def _failed(self, failure: NodeError, failures: int) -> NodeOutcome:
        policy = self.node.retry
        error = failure.to_dict()
        if failures + 1 >= policy.max_attempts or failure.kind not in policy.retry_on:
            output = None
            if self.node.on_error == "continue" and self.task.index is None:
                output = self.node.default
            return await self._close(StepStatus.FAILED, output, error, ["step.failed"])
        delay = backoff_delay(policy, failures, random.random(), failure)  # noqa: S311 (jitter)
        retrying = {**self.event, "error": error, "delay": delay}
        record = self._record(StepStatus.FAILED, None, error)
        await self.journal.close(record, [("step.retrying", retrying)])
        raise ApplicationError(
            failure.message, type=failure.kind, next_retry_delay=timedelta(seconds=delay)
        )

    def _record(
        self,
        status: StepStatus,
        output: Any,
        error: dict[str, Any] | None,
        usage: Usage | None = None,
    ) -> StepRecord:
        return StepRecord(
            run_id=self.task.run_id,
            node_id=self.node.id,
            attempt=self.attempt,
            status=status,
            idempotency_key=self.key,
            index=self.task.index,
            output=output,
            error=error,
            usage=usage or Usage(),
        )

    async def _close(
        self,
        status: StepStatus,
        output: Any,
        error: dict[str, Any] | None,
        events: list[str],
        usage: Usage | None = None,
    ) -> NodeOutcome:
        record = self._record(status, output, error, usage)
        payload: dict[str, Any] = dict(self.event)
        if status is StepStatus.COMPLETED:
            payload["output"] = output
        elif status is StepStatus.FAILED:
            payload["error"] = error
        await self.journal.close(record, [(name, payload) for name in events])
        return NodeOutcome(step=Step.of(record), attempts=self.info.attempt)


async def _heartbeat(every_of: timedelta | None) -> None:
    """Heartbeat while the node runs: the server sees a lost worker, and we see a cancel."""
    every = (every_of.total_seconds() / 3) if every_of else 5.0
    while True:
        activity.heartbeat()
        await asyncio.sleep(every)


def _key(run_id: str, step: Step) -> str:
    return idempotency_key(run_id, step.node_id, step.index)


def _end_data(end: Finish) -> dict[str, Any]:
    if end.status == "completed":
        return {"output": end.output}
    if end.status == "failed":
        return {"error": end.error}
    if end.status == "interrupted":
        return {"interrupt": end.interrupt}
    return {}


async def _update_thread(
    session: AsyncSession,
    thread_id: uuid.UUID,
    inputs: Any,
    end: Finish,
    records: list[StepRecord],
) -> None:
    steps = {
        r.node_id: r.output for r in records if r.index is None and r.status is StepStatus.COMPLETED
    }
    values = {"inputs": inputs, "steps": steps, "output": end.output}
    interrupts = [end.interrupt] if end.interrupt is not None else []
    await set_thread(
        session,
        thread_id,
        status=THREAD_STATUS.get(end.status, "interrupted"),
        values=values,
        interrupts=interrupts,
        updated_at=utcnow(),
    )


__all__ = ["NODE_ACTIVITY", "Activities"]
