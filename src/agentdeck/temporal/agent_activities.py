"""The activities of an agent node whose loop the workflow drives (`agent_loop`).

`agentdeck.agent.setup` starts the node's attempt in the journal and answers where the loop
begins (`engine.nodes.agent.start_loop`: the tools offered, the first turn or an approval's
checkpoint); `agentdeck.agent.model` is one model turn, its tokens published to the run
broker as they come (never to Temporal); `agentdeck.agent.tool` is one tool call with its
`tool.called` and `tool.result` events; `agentdeck.agent.finish` turns the final answer
into the node's output (`finish_loop`: citations, structured output, the turn saved to the
thread) and closes the attempt. Each runs the embedded engine's code with the run's ports,
so a worker lost mid-loop costs one call: the next attempt of that activity makes it again
with the same idempotency key (tool calls forward it; a finished one answers its record).

A NodeError is raised as an `ApplicationError` of its kind carrying `to_dict()`, retryable
(with the node policy's backoff and a `step.retrying` event) while the policy allows it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from pydantic import TypeAdapter
from temporalio import activity
from temporalio.exceptions import ApplicationError

from agentdeck.engine.errors import NodeError, ResumeError
from agentdeck.engine.journal import StepRecord, StepStatus, Usage, idempotency_key
from agentdeck.engine.nodes import NodeContext
from agentdeck.engine.nodes.agent import InPlaceCalls, Offer, finish_loop, start_loop
from agentdeck.engine.nodes.approval import LoopState
from agentdeck.engine.nodes.citations import CitationBook
from agentdeck.engine.ports import ChatResult
from agentdeck.engine.runner import backoff_delay
from agentdeck.engine.spec import AgentNode, Node
from agentdeck.kit.db import utcnow
from agentdeck.run.events.bus import StreamItem
from agentdeck.temporal._types import (
    AgentEnd,
    AgentStart,
    AgentTask,
    ModelCall,
    Step,
    ToolAnswer,
    ToolCallTask,
)
from agentdeck.temporal.activities import Activities
from agentdeck.temporal.node_ports import ports_for

_NODE: TypeAdapter[Node] = TypeAdapter(Node)


class AgentActivities:
    """The agent loop's activities of one process (they share its `Activities`)."""

    def __init__(self, owner: Activities) -> None:
        self.owner = owner

    @activity.defn(name="agentdeck.agent.setup")
    async def setup(self, task: AgentTask) -> AgentStart:
        """Start the attempt (`step.started`, once) and prepare the loop."""
        node = _agent(task)
        event = _event(task, node)
        started = StepRecord(
            run_id=task.run_id,
            node_id=node.id,
            attempt=task.attempt,
            status=StepStatus.RUNNING,
            idempotency_key=idempotency_key(task.run_id, node.id, task.index),
            index=task.index,
            input=task.config,
            started_at=utcnow(),
        )
        journal = self.owner.journal(task.meta.org_id)
        heart = asyncio.create_task(_heartbeat(activity.info().heartbeat_timeout))
        try:  # heartbeating from the start: the write may wait for the database
            await journal.write(task.run_id, [started], [("step.started", event)], finished=False)
        finally:
            heart.cancel()
        async with self._context(task, node) as ctx:
            try:
                start = await start_loop(ctx)
            except ResumeError as exc:  # the workflow checked the answer: not expected here
                raise await self._failure(task, node, NodeError("internal", str(exc))) from exc
        return AgentStart(
            specs=start.specs,
            tools=sorted(start.offer.tools),
            approve=start.offer.approve,
            memory=start.offer.memory,
            state=start.state.dump(),
            decision=start.decision,
            passages=list(start.book.by_number.values()),
        )

    @activity.defn(name="agentdeck.agent.model")
    async def model(self, call: ModelCall) -> ChatResult:
        """One model turn, streamed to the run's subscribers as the node says."""
        node = _agent(call.task)
        async with self._context(call.task, node) as ctx:
            calls = InPlaceCalls(ctx, node, Offer(), CitationBook())
            return await calls.model(call.request, call.iteration)

    @activity.defn(name="agentdeck.agent.tool")
    async def tool(self, call: ToolCallTask) -> ToolAnswer:
        """One tool call (a tool, `knowledge_search`, `remember`/`recall`, or a rejected
        call), with its events; the tool message and the passages after it."""
        node = _agent(call.task)
        offer = Offer()
        offer.tools, offer.memory = set(call.tools), call.memory
        book = CitationBook(call.passages)
        async with self._context(call.task, node) as ctx:
            calls = InPlaceCalls(ctx, node, offer, book)
            message = await calls.tool(call.call, call.index, call.rejected)
        return ToolAnswer(message=message, passages=list(book.by_number.values()))

    @activity.defn(name="agentdeck.agent.finish")
    async def finish(self, end: AgentEnd) -> Step:
        """The node's output from the final answer, and its attempt closed: completed, or
        failed when the answer does not fit (`invalid_output`) or the thread cannot be saved."""
        task, node = end.task, _agent(end.task)
        state = LoopState.load(end.state)
        event = _event(task, node)
        async with self._context(task, node, raise_as_failure=False) as ctx:
            try:
                result = await finish_loop(ctx, node, state, CitationBook(end.passages), end.result)
            except NodeError as exc:
                error = exc.to_dict()
                output = (
                    node.default if node.on_error == "continue" and task.index is None else None
                )
                record = _record(task, node, StepStatus.FAILED, output, error, Usage())
                events = [("step.failed", {**event, "error": error})]
            else:
                record = _record(
                    task, node, StepStatus.COMPLETED, result.output, None, result.usage
                )
                events = [("step.completed", {**event, "output": result.output})]
        await self.owner.journal(task.meta.org_id).close(record, events)
        return Step.of(record)

    # -- helpers ---------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _context(
        self, task: AgentTask, node: AgentNode, *, raise_as_failure: bool = True
    ) -> AsyncIterator[NodeContext]:
        """The node's context with the run's ports, heartbeating; NodeErrors (and bugs, as
        `internal`) leave as ApplicationErrors unless ``raise_as_failure`` is False."""
        journal = self.owner.journal(task.meta.org_id)
        broker = self.owner.services.broker

        async def emit(type_: str, data: dict[str, Any]) -> None:
            await journal.append_event(task.run_id, type_, data)

        async def ephemeral(type_: str, data: dict[str, Any]) -> None:
            broker.publish(StreamItem(task.run_id, type_, data))

        heart = asyncio.create_task(_heartbeat(activity.info().heartbeat_timeout))
        try:
            async with ports_for(
                self.owner.sessionmaker, self.owner.services, task.run_id, task.meta
            ) as ports:
                yield NodeContext(
                    node=node,
                    config=task.config,
                    run_id=task.run_id,
                    idempotency_key=idempotency_key(task.run_id, node.id, task.index),
                    attempt=task.attempt,
                    ports=ports,
                    emit=emit,
                    emit_ephemeral=ephemeral,
                    index=task.index,
                    sources=tuple(task.sources),
                    cite=task.cite,
                    resume=task.resume,
                )
        except NodeError as exc:
            if not raise_as_failure:
                raise
            raise await self._failure(task, node, exc) from exc
        except (ApplicationError, asyncio.CancelledError):
            raise
        except Exception as exc:  # a buggy port fails the node, it is not retried
            if not raise_as_failure:
                raise
            failure = NodeError("internal", f"{type(exc).__name__}: {exc}")
            raise await self._failure(task, node, failure) from exc
        finally:
            heart.cancel()

    async def _failure(self, task: AgentTask, node: AgentNode, exc: NodeError) -> ApplicationError:
        """The NodeError as Temporal's failure: retried (after a `step.retrying` event)
        while the node's policy allows, else final."""
        policy, error = node.retry, exc.to_dict()
        attempt = activity.info().attempt
        if exc.kind not in policy.retry_on or attempt >= policy.max_attempts:
            return ApplicationError(exc.message, error, type=exc.kind, non_retryable=True)
        delay = backoff_delay(policy, attempt - 1, random.random(), exc)  # noqa: S311 (jitter)
        call = activity.info().activity_type.removeprefix("agentdeck.agent.")
        data = {**_event(task, node), "error": error, "delay": delay, "call": call}
        await self.owner.journal(task.meta.org_id).append_event(task.run_id, "step.retrying", data)
        return ApplicationError(
            exc.message, error, type=exc.kind, next_retry_delay=timedelta(seconds=delay)
        )


def _agent(task: AgentTask) -> AgentNode:
    node = _NODE.validate_python(task.node)
    assert isinstance(node, AgentNode)
    return node


def _event(task: AgentTask, node: Node) -> dict[str, Any]:
    return {"node": node.id, "attempt": task.attempt, "index": task.index}


def _record(
    task: AgentTask,
    node: Node,
    status: StepStatus,
    output: Any,
    error: dict[str, Any] | None,
    usage: Usage,
) -> StepRecord:
    return StepRecord(
        run_id=task.run_id,
        node_id=node.id,
        attempt=task.attempt,
        status=status,
        idempotency_key=idempotency_key(task.run_id, node.id, task.index),
        index=task.index,
        output=output,
        error=error,
        usage=usage,
    )


async def _heartbeat(every_of: timedelta | None) -> None:
    """Heartbeat while a call runs: the server sees a lost worker, and we see a cancel."""
    every = (every_of.total_seconds() / 3) if every_of else 5.0
    while True:
        activity.heartbeat()
        await asyncio.sleep(every)


__all__ = ["AgentActivities"]
