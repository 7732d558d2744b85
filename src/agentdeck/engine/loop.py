"""The run loop: load the journal, plan, run ready nodes, record, repeat.

Resuming is the same call: a completed step is never executed again, and a step whose last
attempt is still `running` (its worker died) runs again with the same idempotency key.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import jsonschema

from agentdeck.engine.errors import ResumeError
from agentdeck.engine.journal import Journal, StepRecord, StepStatus, idempotency_key
from agentdeck.engine.nodes import Ports
from agentdeck.engine.nodes.approval import check_decision, public_interrupt
from agentdeck.engine.nodes.human import check_answer
from agentdeck.engine.planner import Graph, Plan, RunState, graph_of, plan_graph
from agentdeck.engine.ports import EventSink, NullSink
from agentdeck.engine.runner import Events, MaxStepsExceeded, Runner, Sleep
from agentdeck.engine.spec import AgentNode, AgentSpec, HumanNode, Node
from agentdeck.kit import jsonschemas

RunOutcome = Literal["completed", "failed", "interrupted", "cancelled"]


@dataclass(frozen=True, slots=True)
class Resume:
    """The answer to an interrupted `human` node (the first interrupted one by default)."""

    value: Any
    node: str | None = None


@dataclass(frozen=True, slots=True)
class RunResult:
    status: RunOutcome
    output: Any = None
    error: dict[str, Any] | None = None
    interrupt: dict[str, Any] | None = None


class Engine:
    """Drives runs of agent definitions. One instance may serve many concurrent runs.

    `sleep` and `rand` are injectable so tests control retry backoff.
    """

    def __init__(
        self,
        journal: Journal,
        *,
        ports: Ports | None = None,
        events: EventSink | None = None,
        sleep: Sleep = asyncio.sleep,
        rand: Callable[[], float] = random.random,
        env: Mapping[str, str] | None = None,
        max_concurrency: int = 16,
    ) -> None:
        self.journal = journal
        self.ports = ports or Ports()
        self.sink: EventSink = events or NullSink()
        self.sleep = sleep
        self.rand = rand
        self.env: Mapping[str, str] = env or {}
        self.max_concurrency = max_concurrency

    async def run(
        self,
        spec: AgentSpec,
        run_id: str,
        inputs: Any = None,
        *,
        resume: Resume | None = None,
        thread: Any = None,
        cancel: asyncio.Event | None = None,
        started: bool = False,
    ) -> RunResult:
        """Start or continue run `run_id` until it completes, fails, is interrupted or cancelled.

        ``started``: the caller has already journaled this run's `run.started` event (a
        worker writes it with the run's status), so it is not emitted again.

        The spec must be valid (`validate()` returned no problems). Node failures never
        raise; they end in `RunResult(status="failed")`. Raises ResumeError for a resume
        value with nothing to resume or failing the human node's schema, and propagates
        journal errors (the run can then be resumed elsewhere).
        """
        records = await self.journal.load(run_id)
        state = RunState.from_records(records, inputs)
        state.thread, state.env = thread, self.env
        events = Events(run_id, self.journal, self.sink)
        answer = self._check_resume(spec, run_id, state, resume) if resume else None
        if answer is None and not records and spec.inputs is not None:
            try:
                jsonschemas.validate(inputs, spec.inputs)
            except jsonschema.ValidationError as exc:
                error = {"kind": "invalid_input", "message": exc.message}
                await events.emit("run.failed", {"error": error})
                return RunResult("failed", error=error)
        if not started:
            await events.emit("run.started", {"resumed": bool(records)})
        if answer is not None:
            await self.journal.record_step(answer)
            state.apply(answer)
            if answer.status is StepStatus.COMPLETED:
                data = {"node": answer.node_id, "attempt": answer.attempt, "output": answer.output}
                await events.emit("step.completed", data)
        watch_cancel = cancel is not None
        cancel = cancel or asyncio.Event()
        graph = graph_of(spec)
        runner = Runner(
            run_id=run_id,
            max_steps=spec.max_steps,
            journal=self.journal,
            events=events,
            ports=self.ports,
            state=state,
            graph=graph,
            sleep=self.sleep,
            rand=self.rand,
            cancel=cancel,
        )
        loop = _Loop(
            spec,
            graph=graph,
            state=state,
            runner=runner,
            events=events,
            cancel=cancel,
            watch_cancel=watch_cancel,
            max_concurrency=self.max_concurrency,
        )
        return await loop.drive()

    def _check_resume(
        self, spec: AgentSpec, run_id: str, state: RunState, resume: Resume
    ) -> StepRecord:
        """The record answering the interrupted node; raises ResumeError.

        A human node completes with the answer. An agent node waiting for a tool approval
        gets a `pending` record holding its interrupt and the decision: it runs again and
        continues its loop from there."""
        waiting = [n for n in graph_of(spec).order if _is_interrupted(state, n)]
        if not waiting:
            raise ResumeError(f"run {run_id} is not waiting for input")
        node_id = resume.node or waiting[0]
        if node_id not in waiting:
            raise ResumeError(f"node {node_id!r} is not waiting for input")
        node = spec.node(node_id)
        if isinstance(node, AgentNode):
            check_decision(resume.value)
            return StepRecord(
                run_id=run_id,
                node_id=node_id,
                attempt=state.nodes[node_id].attempt + 1,
                status=StepStatus.PENDING,
                idempotency_key=idempotency_key(run_id, node_id),
                output={"interrupt": state.nodes[node_id].output, "resume": resume.value},
            )
        assert isinstance(node, HumanNode)
        check_answer(node, resume.value)
        return StepRecord(
            run_id=run_id,
            node_id=node_id,
            attempt=state.nodes[node_id].attempt + 1,
            status=StepStatus.COMPLETED,
            idempotency_key=idempotency_key(run_id, node_id),
            output=resume.value,
        )


def _is_interrupted(state: RunState, node_id: str) -> bool:
    ns = state.nodes.get(node_id)
    return ns is not None and ns.status is StepStatus.INTERRUPTED


class _Loop:
    """Drives one run. A lone ready node runs inline in the caller's task (no task, no
    `asyncio.wait`); parallel nodes run as tasks. Cancel and the run timeout interrupt
    either kind at once: an inline node by cancelling this task, then un-cancelling it."""

    def __init__(
        self,
        spec: AgentSpec,
        *,
        graph: Graph,
        state: RunState,
        runner: Runner,
        events: Events,
        cancel: asyncio.Event,
        watch_cancel: bool,
        max_concurrency: int,
    ) -> None:
        self.spec = spec
        self.graph = graph
        self.state = state
        self.runner = runner
        self.events = events
        self.cancel = cancel
        self.watch_cancel = watch_cancel
        """False when the engine made `cancel` itself: nothing else can set it then."""
        self.max_concurrency = max_concurrency
        self.in_flight: dict[str, asyncio.Task[StepRecord]] = {}
        self._task: asyncio.Task[Any] | None = None
        self._inline = False  # an inline node is running in `_task`
        self._interrupting = False  # `_task` was cancelled by `_interrupt`
        self._timed_out = False
        self._wake: asyncio.Future[None] | None = None

    async def drive(self) -> RunResult:
        self._task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        timer = None
        if self.spec.timeout:
            timer = loop.call_later(self.spec.timeout, self._interrupt, True)
        watcher: asyncio.Task[Any] | None = None
        if self.watch_cancel:
            watcher = loop.create_task(self.cancel.wait())
            watcher.add_done_callback(lambda _: self._interrupt(False))
        try:
            while True:
                if self.cancel.is_set():
                    return await self._stop("cancelled", None)
                p = plan_graph(self.spec, self.graph, self.state)
                result = await self._settle(p)
                if result is None and (self._timed_out or self.cancel.is_set()):
                    result = await self._stop_interrupted()  # it came while we recorded
                if result is None:
                    inline = self._launch(p.ready)
                    if inline is not None:
                        result = await self._run_inline(inline)
                    else:
                        result = await self._wait()
                if result is not None:
                    return result
        finally:
            if timer is not None:
                timer.cancel()
            if watcher is not None:
                watcher.cancel()
            await self._cancel_in_flight()

    def _interrupt(self, timed_out: bool) -> None:
        """Timer/cancel callback: stop an inline node now, or wake the wait for tasks."""
        self._timed_out = self._timed_out or timed_out
        if self._inline and not self._interrupting and self._task is not None:
            self._interrupting = True
            self.runner.stopping = True  # the node records its attempt as cancelled
            self._task.cancel()
        elif self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    async def _stop_interrupted(self) -> RunResult:
        if self.cancel.is_set():
            return await self._stop("cancelled", None)
        message = f"run exceeded its timeout of {self.spec.timeout}s"
        return await self._stop("failed", {"kind": "timeout", "message": message})

    async def _settle(self, p: Plan) -> RunResult | None:
        """Record skips, then finish the run if the plan says so. A result ends the run."""
        for skip in p.skip:
            prior = self.state.nodes.get(skip.node)
            record = StepRecord(
                run_id=self.runner.run_id,
                node_id=skip.node,
                attempt=(prior.attempt if prior else 0) + 1,
                status=StepStatus.SKIPPED,
                idempotency_key=idempotency_key(self.runner.run_id, skip.node),
                error={"kind": "skipped", "message": skip.reason},
            )
            await self.runner.journal.record_step(record)
            self.state.apply(record)
            await self.events.emit("step.skipped", {"node": skip.node, "reason": skip.reason})
        if p.status == "failed":
            return await self._stop("failed", p.error)
        if p.status == "completed":
            await self.events.emit("run.completed", {"output": p.output})
            return RunResult("completed", output=p.output)
        if p.status == "interrupted" and not self.in_flight:
            payload = public_interrupt(self.state.nodes[p.interrupted[0]].output)
            await self.events.emit("run.interrupted", {"interrupt": payload})
            return RunResult("interrupted", interrupt=payload)
        return None

    def _launch(self, ready: tuple[str, ...]) -> Node | None:
        """Start ready nodes as tasks, or return the one node to run inline."""
        if len(ready) == 1 and not self.in_flight and self.max_concurrency > 0:
            return self.graph.nodes[ready[0]]  # the common case of a chain
        new = [n for n in ready if n not in self.in_flight]
        del new[max(0, self.max_concurrency - len(self.in_flight)) :]
        if len(new) == 1 and not self.in_flight:
            return self.graph.nodes[new[0]]
        for node_id in new:
            coro = self.runner.run_node(self.graph.nodes[node_id])
            self.in_flight[node_id] = asyncio.create_task(coro, name=node_id)
        return None

    async def _run_inline(self, node: Node) -> RunResult | None:
        assert self._task is not None
        self._inline = True
        try:
            await self.runner.run_node(node)
        except MaxStepsExceeded as exc:
            self._inline = False
            return await self._stop("failed", {"kind": "max_steps", "message": str(exc)})
        except asyncio.CancelledError:
            if not self._interrupting or self._task.uncancel():
                raise  # not ours, or the task is also cancelled from outside
            self._inline = False
            return await self._stop_interrupted()
        finally:
            self._inline = False
        if self._interrupting:  # the node swallowed our CancelledError
            self._task.uncancel()
            return await self._stop_interrupted()
        return None

    async def _wait(self) -> RunResult | None:
        """Wait for a task to finish (or cancel/timeout to wake us); collect finished ones."""
        self._wake = wake = asyncio.get_running_loop().create_future()
        try:
            done, _ = await asyncio.wait(
                [*self.in_flight.values(), wake], return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            self._wake = None
            wake.cancel()
        return await self._collect(done)

    async def _collect(self, done: set[asyncio.Future[Any]]) -> RunResult | None:
        for node_id, task in list(self.in_flight.items()):
            if task not in done:
                continue
            del self.in_flight[node_id]
            try:
                task.result()  # the record is already applied to the state
            except MaxStepsExceeded as exc:
                return await self._stop("failed", {"kind": "max_steps", "message": str(exc)})
        return None

    async def _cancel_in_flight(self) -> None:
        tasks = list(self.in_flight.values())
        self.in_flight.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, MaxStepsExceeded):
                await task

    async def _stop(self, status: RunOutcome, error: dict[str, Any] | None) -> RunResult:
        self.runner.stopping = True
        await self._cancel_in_flight()
        if status == "cancelled":
            await self.events.emit("run.cancelled", {})
        else:
            await self.events.emit("run.failed", {"error": error})
        return RunResult(status, error=error)
