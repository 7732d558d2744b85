"""The run workflow: the embedded engine's pure planner in a loop, node attempts as activities.

One run is one workflow (workflow id = run id), started with the pinned agent version and
the run's inputs. Each turn plans (`engine.planner.plan_graph`, the same code as the embedded
loop) and starts the ready nodes: `transform` and `human` nodes, `when`, `for_each` and every
template run here, deterministically; an `agent` node's loop runs here too, each of its
model and tool calls an activity (`agent_loop`); a `subagent` node is a child workflow
(`children`); any other node attempt is one activity of its kind (`agentdeck.node.<type>`)
with `activity_id` `<node>[<item>]#<iteration>`, so a replay that reorders nodes fails
loudly. Per-node `retry` is the activity's RetryPolicy, `timeout` its
start-to-close bound (plus a heartbeat timeout that notices a lost worker), `on_error` is
applied here by the planner. Journal writes are local activities; token deltas never enter
the history (the node activities publish them to the run broker).

An interrupted run stays waiting (`wait_condition`) for the `resume` update, whose validator
checks the answer the way the embedded engine does; the run created to continue it then
runs as its own workflow. A workflow cancelled mid-run records its in-flight attempts as
cancelled and the run as `cancelled`. Past `max_history_events` (or when Temporal suggests
it) a run continues as new at a quiet moment: the journal holds everything it needs.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, CancelledError
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    import jsonschema

    from agentdeck.engine import templates
    from agentdeck.engine.errors import ErrorKind, NodeError, ResumeError, TemplateError
    from agentdeck.engine.journal import StepStatus, idempotency_key
    from agentdeck.engine.journal_memory import MemoryJournal
    from agentdeck.engine.loop import Engine, Resume
    from agentdeck.engine.nodes.approval import public_interrupt
    from agentdeck.engine.planner import Graph, RunState, Skip, graph_of, plan_graph
    from agentdeck.engine.spec import AgentNode, AgentSpec, Node
    from agentdeck.temporal._types import (
        Batch,
        Event,
        Finish,
        LostStep,
        NodeOutcome,
        NodeTask,
        Options,
        Prepared,
        ResumeRequest,
        RunInput,
        RunMeta,
        RunOutcome,
        Step,
    )
    from agentdeck.temporal.agent_loop import AgentDriver
    from agentdeck.temporal.children import run_subagent_node

NODE_ACTIVITY = "agentdeck.node."
_LOCAL = timedelta(seconds=60)
_KINDS: tuple[ErrorKind, ...] = ErrorKind.__args__  # type: ignore[attr-defined]
BATCHED_TRANSFORM_ITEMS = "batched-transform-items"
"""`workflow.patched` id of the change that writes a transform's for_each items at once."""
AGENT_LOOP_IN_WORKFLOW = "agent-loop-in-workflow"
"""`workflow.patched` id of the change that drives an agent node's loop here, one activity
per model and tool call (before: the whole node was one activity)."""
SUBAGENT_CHILD_WORKFLOW = "subagent-child-workflow"
"""`workflow.patched` id of the change that runs a `subagent` node as a child workflow
(before: one activity starting the child run's own workflow and polling its row)."""


class _Continue(Exception):
    """The history is long: continue as new once nothing is in flight."""


@workflow.defn(name="agentdeck.run")
class RunWorkflow:
    def __init__(self) -> None:
        self._input: RunInput | None = None
        self._spec: AgentSpec | None = None
        self._graph: Graph | None = None
        self._state = RunState()
        self._meta: RunMeta | None = None
        self._attempts = 0
        self._waiting = False
        self._resumed_by: str | None = None
        self._events = 0
        """Events our commands add (an estimate): the history's length is only known at the
        start of a workflow task, and one task may run many local activities."""

    # -- the run ---------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: RunInput) -> RunOutcome:
        self._input = inp
        prepared = await self._prepare(inp)
        if prepared.action == "done":
            return RunOutcome(status="skipped")
        assert prepared.meta is not None
        self._meta = prepared.meta
        spec = self._spec = AgentSpec.model_validate(inp.spec)
        self._graph = graph_of(spec)
        records = [s.record(inp.run_id, _key(inp.run_id, s)) for s in prepared.steps]
        self._state = RunState.from_records(records, inp.inputs)
        self._state.thread = prepared.thread
        self._attempts = self._state.attempts
        try:
            if prepared.cancelled:
                result = RunOutcome(status="cancelled")
            else:
                result = await self._begin(prepared) or await self._drive_timed()
        except asyncio.CancelledError:
            result = RunOutcome(status="cancelled")
        except _Continue:
            workflow.continue_as_new(inp.model_copy(update={"continued": inp.continued + 1}))
        await self._finish(result)
        if result.status == "interrupted" and inp.parent_run_id is None:  # a child: no resume
            await self._wait_for_resume()
            result.resumed_by = self._resumed_by
        return result

    async def _prepare(self, inp: RunInput) -> Prepared:
        while True:
            prepared: Prepared = await workflow.execute_local_activity(
                "agentdeck.run.prepare",
                inp.run_id,
                start_to_close_timeout=_LOCAL,
                result_type=Prepared,
            )
            if prepared.action != "held":
                return prepared
            await workflow.sleep(inp.options.requeue_delay_s)  # the org's limit, or its thread
            if self._history_full():
                workflow.continue_as_new(inp.model_copy(update={"continued": inp.continued + 1}))

    async def _begin(self, prepared: Prepared) -> RunOutcome | None:
        """Record the resume answer, or check a fresh run's inputs; a result ends the run."""
        spec, state, run_id = self._need_spec(), self._state, self._run_id()
        if prepared.resume:
            try:
                answer = Engine(MemoryJournal())._check_resume(
                    spec, run_id, state, Resume(prepared.resume[0])
                )
            except ResumeError as exc:
                return RunOutcome(status="failed", error={"kind": "resume", "message": str(exc)})
            step = Step.of(answer)
            events = []
            if answer.status is StepStatus.COMPLETED:
                data = {"node": answer.node_id, "attempt": answer.attempt, "output": answer.output}
                events.append(Event(type="step.completed", data=data))
            await self._record([step], events)
            state.apply(answer)
        elif not prepared.steps and spec.inputs is not None:
            try:
                jsonschema.validate(state.inputs, spec.inputs, jsonschema.Draft202012Validator)
            except jsonschema.ValidationError as exc:
                error = {"kind": "invalid_input", "message": exc.message}
                return RunOutcome(status="failed", error=error)
        return None

    async def _drive_timed(self) -> RunOutcome:
        timeout = self._need_spec().timeout
        if timeout is None:
            return await self._drive()
        try:
            return await asyncio.wait_for(self._drive(), timeout)
        except TimeoutError:
            error = {"kind": "timeout", "message": f"run exceeded its timeout of {timeout}s"}
            return RunOutcome(status="failed", error=error)

    async def _drive(self) -> RunOutcome:
        spec, graph, state = self._need_spec(), self._need_graph(), self._state
        limit = self._options().max_concurrency
        in_flight: dict[str, asyncio.Task[None]] = {}
        try:
            while True:
                p = plan_graph(spec, graph, state)
                await self._skips(p.skip)
                if p.status == "failed":
                    return RunOutcome(status="failed", error=p.error)
                if p.status == "completed":
                    return RunOutcome(status="completed", output=p.output)
                if p.status == "interrupted" and not in_flight:
                    payload = public_interrupt(state.nodes[p.interrupted[0]].output)
                    return RunOutcome(status="interrupted", interrupt=payload)
                for node_id in p.ready:
                    if node_id in in_flight or len(in_flight) >= limit:
                        continue
                    if self._attempts >= spec.max_steps:
                        message = f"max_steps ({spec.max_steps}) reached at {node_id!r}"
                        return RunOutcome(
                            status="failed", error={"kind": "max_steps", "message": message}
                        )
                    task = asyncio.create_task(self._run_node(graph.nodes[node_id]))
                    in_flight[node_id] = task
                if not in_flight:  # pragma: no cover - the planner never leaves us idle
                    error = {"kind": "internal", "message": "no node can progress"}
                    return RunOutcome(status="failed", error=error)
                done, _ = await workflow.wait(
                    list(in_flight.values()), return_when=asyncio.FIRST_COMPLETED
                )
                for node_id, task in list(in_flight.items()):
                    if task in done:
                        del in_flight[node_id]
                        task.result()
                if not in_flight and self._history_full():
                    raise _Continue
        finally:
            for task in in_flight.values():
                task.cancel()
            if in_flight:  # each records its attempt as cancelled first
                await asyncio.gather(*in_flight.values(), return_exceptions=True)

    # -- nodes -----------------------------------------------------------------------------

    async def _run_node(self, node: Node) -> None:
        previous = self._state.nodes.get(node.id)
        base = previous.attempt if previous else 0
        if node.for_each is None:
            self._apply(await self._attempt(node, None, None, base))
        else:
            await self._fan_out(node, base)

    async def _fan_out(self, node: Node, base: int) -> None:
        assert node.for_each is not None
        try:
            items = templates.evaluate(node.for_each, self._state.context())
            if not isinstance(items, list | tuple):
                raise TemplateError(node.for_each, f"gave {type(items).__name__}, not a list")
        except TemplateError as exc:
            error = {"kind": "template", "message": str(exc)}
            self._apply(await self._total(node, base + 1, StepStatus.FAILED, None, error))
            return
        done = self._state.items.get(node.id, {})
        outputs: list[Any] = [None] * len(items)
        failed: list[Step] = []
        if node.type == "transform" and workflow.patched(BATCHED_TRANSFORM_ITEMS):
            # no I/O: every item at once, journaled in one write (histories recorded before
            # this change journaled each item on its own and replay that way)
            await self._transform_items(node, items, done, outputs, failed)
            return await self._fan_in(node, base, outputs, failed)
        gate = asyncio.Semaphore(node.max_concurrency)

        async def one(index: int, item: Any) -> None:
            prior = done.get(index)
            if prior is not None and prior.status is StepStatus.COMPLETED:
                outputs[index] = prior.output  # never re-run a finished item
                return
            async with gate:
                if failed:
                    return  # an item failed: start no more
                step = await self._attempt(node, index, item, prior.attempt if prior else 0)
            self._apply(step)
            if step.status is StepStatus.COMPLETED:
                outputs[index] = step.output
            else:
                failed.append(step)

        await asyncio.gather(*(one(i, item) for i, item in enumerate(items)))
        await self._fan_in(node, base, outputs, failed)

    async def _transform_items(
        self,
        node: Node,
        items: list[Any] | tuple[Any, ...],
        done: dict[int, Any],
        outputs: list[Any],
        failed: list[Step],
    ) -> None:
        steps: list[Step] = []
        events: list[Event] = []
        for index, item in enumerate(items):
            prior = done.get(index)
            if prior is not None and prior.status is StepStatus.COMPLETED:
                outputs[index] = prior.output
                continue
            self._attempts += 1
            attempt = (prior.attempt if prior else 0) + 1
            data = {"node": node.id, "attempt": attempt, "index": index}
            try:
                config = _render(node, self._state.context(item))
            except NodeError as exc:
                step = Step(
                    node_id=node.id, attempt=attempt, status=StepStatus.FAILED, index=index,
                    error=exc.to_dict(),
                )  # fmt: skip
                failed.append(step)
                events.append(Event(type="step.failed", data={**data, "error": step.error}))
            else:
                step = Step(
                    node_id=node.id, attempt=attempt, status=StepStatus.COMPLETED, index=index,
                    input=config, output=config["value"],
                )  # fmt: skip
                outputs[index] = step.output
                events.append(Event(type="step.started", data=data))
                events.append(Event(type="step.completed", data={**data, "output": step.output}))
            steps.append(step)
        if steps:
            await self._record(steps, events)
        for step in steps:
            self._apply(step)

    async def _fan_in(self, node: Node, base: int, outputs: list[Any], failed: list[Step]) -> None:
        if failed:
            first = min(failed, key=lambda s: s.index or 0)
            err = first.error or {}
            failure = NodeError(
                err.get("kind", "internal"), f"item {first.index}: {err.get('message')}"
            )
            step = await self._total(node, base + 1, StepStatus.FAILED, None, failure.to_dict())
        else:
            step = await self._total(node, base + 1, StepStatus.COMPLETED, outputs, None)
        self._apply(step)

    async def _attempt(self, node: Node, index: int | None, item: Any, base: int) -> Step:
        """One attempt of a node or item, to its final step (retries inside)."""
        self._attempts += 1
        static = self._need_graph().static_configs.get(node.id)
        try:
            config = (
                dict(static) if static is not None else _render(node, self._state.context(item))
            )
        except NodeError as exc:
            return await self._one(
                node, base + 1, index, StepStatus.FAILED, None, exc.to_dict(), None
            )
        if node.type == "transform":
            return await self._one(
                node, base + 1, index, StepStatus.COMPLETED, config["value"], None, config
            )
        if node.type == "human":
            payload = {
                "node": node.id,
                "message": config["message"],
                "schema": node.response_schema,
            }
            return await self._one(
                node, base + 1, index, StepStatus.INTERRUPTED, payload, None, config
            )
        if node.type == "agent" and workflow.patched(AGENT_LOOP_IN_WORKFLOW):
            assert isinstance(node, AgentNode)
            graph = self._need_graph()
            return await AgentDriver(
                self, node, index, config, base,
                sources=self._passages(node.id) if node.id in graph.sources else [],
                cite=node.id in graph.citing,
                resume=self._state.resumes.get(node.id) if index is None else None,
            ).run()  # fmt: skip
        if node.type == "subagent" and workflow.patched(SUBAGENT_CHILD_WORKFLOW):
            return await run_subagent_node(self, node, index, config, base)
        return await self._activity(node, index, config, base)

    async def _activity(
        self, node: Node, index: int | None, config: dict[str, Any], base: int
    ) -> Step:
        opts, graph, meta = self._options(), self._need_graph(), self._meta
        assert meta is not None
        task = NodeTask(
            run_id=self._run_id(),
            meta=meta,
            node=node.model_dump(mode="json", by_alias=True),
            config=config,
            base_attempt=base,
            index=index,
            sources=self._passages(node.id) if node.id in graph.sources else [],
            cite=node.id in graph.citing,
            resume=self._state.resumes.get(node.id) if index is None else None,
        )
        policy = node.retry
        retry = RetryPolicy(
            initial_interval=timedelta(seconds=policy.initial_delay),
            backoff_coefficient=2.0 if policy.backoff == "exponential" else 1.0,
            maximum_interval=timedelta(seconds=max(policy.max_delay, policy.initial_delay)),
            maximum_attempts=policy.max_attempts + opts.lost_attempts,
            non_retryable_error_types=[k for k in _KINDS if k not in policy.retry_on],
        )
        bound = (
            (node.timeout + opts.heartbeat_timeout_s) if node.timeout else opts.activity_timeout_s
        )
        where = node.id if index is None else f"{node.id}[{index}]"
        self._events += 6  # scheduled, started, completed and a workflow task around them
        try:
            outcome: NodeOutcome = await workflow.execute_activity(
                NODE_ACTIVITY + node.type,
                task,
                activity_id=f"{where}#{base + 1}",
                start_to_close_timeout=timedelta(seconds=bound),
                heartbeat_timeout=timedelta(seconds=opts.heartbeat_timeout_s),
                retry_policy=retry,
                cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
                result_type=NodeOutcome,
            )
        except ActivityError as exc:
            if isinstance(exc.cause, CancelledError):  # it recorded its cancelled attempt
                raise
            message = str(exc.cause or exc)
            lost = LostStep(
                run_id=self._run_id(),
                org_id=meta.org_id,
                node_id=node.id,
                index=index,
                error={"kind": "internal", "message": f"the node's activity failed: {message}"},
                output=node.default if node.on_error == "continue" and index is None else None,
            )
            step: Step = await workflow.execute_local_activity(
                "agentdeck.run.fail_step", lost, start_to_close_timeout=_LOCAL, result_type=Step
            )
            return step
        self._attempts += outcome.attempts - 1
        return outcome.step

    # -- journal writes --------------------------------------------------------------------

    async def _one(
        self,
        node: Node,
        attempt: int,
        index: int | None,
        status: StepStatus,
        output: Any,
        error: dict[str, Any] | None,
        config: dict[str, Any] | None,
    ) -> Step:
        """A step decided here: transform and human attempts (config given: also started),
        and attempts failing before they start (a template error)."""
        if status is StepStatus.FAILED and node.on_error == "continue" and index is None:
            output = node.default
        step = Step(
            node_id=node.id,
            attempt=attempt,
            status=status,
            index=index,
            input=config,
            output=output,
            error=error,
        )
        data = {"node": node.id, "attempt": attempt, "index": index}
        events = [Event(type="step.started", data=data)] if config is not None else []
        if status is StepStatus.COMPLETED:
            events.append(Event(type="step.completed", data={**data, "output": output}))
        elif status is StepStatus.FAILED:
            events.append(Event(type="step.failed", data={**data, "error": error}))
        await self._record([step], events)
        return step

    async def _total(
        self,
        node: Node,
        attempt: int,
        status: StepStatus,
        output: Any,
        error: dict[str, Any] | None,
    ) -> Step:
        """A for_each node's own record (its items have theirs)."""
        return await self._one(node, attempt, None, status, output, error, None)

    async def _skips(self, skips: tuple[Skip, ...]) -> None:
        if not skips:
            return
        steps, events = [], []
        for skip in skips:
            prior = self._state.nodes.get(skip.node)
            steps.append(
                Step(
                    node_id=skip.node,
                    attempt=(prior.attempt if prior else 0) + 1,
                    status=StepStatus.SKIPPED,
                    error={"kind": "skipped", "message": skip.reason},
                )
            )
            events.append(
                Event(type="step.skipped", data={"node": skip.node, "reason": skip.reason})
            )
        await self._record(steps, events)
        for step in steps:
            self._apply(step)

    async def _record(self, steps: list[Step], events: list[Event]) -> None:
        assert self._meta is not None
        batch = Batch(run_id=self._run_id(), org_id=self._meta.org_id, steps=steps, events=events)
        self._events += 1  # a marker
        await workflow.execute_local_activity(
            "agentdeck.run.record", batch, start_to_close_timeout=_LOCAL, result_type=bool
        )

    async def _finish(self, result: RunOutcome) -> None:
        assert self._meta is not None
        end = Finish(
            run_id=self._run_id(),
            org_id=self._meta.org_id,
            status=result.status,
            output=result.output,
            error=result.error,
            interrupt=result.interrupt,
        )
        await workflow.execute_local_activity(
            "agentdeck.run.finish", end, start_to_close_timeout=_LOCAL
        )

    # -- human steps -----------------------------------------------------------------------

    async def _wait_for_resume(self) -> None:
        self._waiting = True
        try:
            await workflow.wait_condition(
                lambda: self._resumed_by is not None,
                timeout=timedelta(seconds=self._options().interrupt_wait_s),
            )
        except (TimeoutError, asyncio.CancelledError):
            return  # the run stays interrupted; a resume then starts without this workflow
        await workflow.wait_condition(workflow.all_handlers_finished)

    @workflow.update(name="resume")
    async def resume(self, request: ResumeRequest) -> str:
        """Hand the interrupted run over to the run that continues it."""
        self._resumed_by = request.run_id
        return request.run_id

    @resume.validator
    def _check_resume(self, request: ResumeRequest) -> None:
        """Refuse an answer while not waiting, or one the waiting node would refuse."""
        if not self._waiting or self._resumed_by is not None or self._spec is None:
            raise ResumeError(f"run {self._run_id()} is not waiting for input")
        Engine(MemoryJournal())._check_resume(
            self._spec, self._run_id(), self._state, Resume(request.value, request.node)
        )

    # -- for the node drivers (`agent_loop`, `children`) ------------------------------------

    def run_id(self) -> str:
        return self._run_id()

    def meta(self) -> RunMeta:
        assert self._meta is not None
        return self._meta

    def options(self) -> Options:
        assert self._input is not None
        return self._input.options

    def key(self, node_id: str, index: int | None) -> str:
        """The idempotency key of a node (or item) of this run."""
        return idempotency_key(self._run_id(), node_id, index)

    def count_events(self, n: int) -> None:
        """Count the history events a command adds (see `_history_full`)."""
        self._events += n

    # -- helpers ---------------------------------------------------------------------------

    def _apply(self, step: Step) -> None:
        self._state.apply(step.record(self._run_id(), _key(self._run_id(), step)))

    def _passages(self, node_id: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for source in self._need_graph().sources[node_id]:
            state = self._state.nodes.get(source)
            output = state.output if state is not None else None
            passages = output.get("passages") if isinstance(output, dict) else None
            if isinstance(passages, list):
                out.extend(p for p in passages if isinstance(p, dict))
        return out

    def _history_full(self) -> bool:
        info = workflow.info()
        limit = self._options().max_history_events
        length = max(info.get_current_history_length(), self._events)
        return length > limit or info.is_continue_as_new_suggested()

    def _run_id(self) -> str:
        assert self._input is not None
        return self._input.run_id

    def _options(self) -> Any:
        assert self._input is not None
        return self._input.options

    def _need_spec(self) -> AgentSpec:
        assert self._spec is not None
        return self._spec

    def _need_graph(self) -> Graph:
        assert self._graph is not None
        return self._graph


def _key(run_id: str, step: Step) -> str:
    return idempotency_key(run_id, step.node_id, step.index)


def _render(node: Node, context: dict[str, Any]) -> dict[str, Any]:
    """The node's templated fields, rendered; NodeError(kind="template") naming the field."""
    config: dict[str, Any] = {}
    for name in node.TEMPLATED:
        value = getattr(node, name)
        if isinstance(value, list) and value and hasattr(value[0], "model_dump"):
            value = [v.model_dump() for v in value]
        try:
            config[name] = templates.render(value, context)
        except TemplateError as exc:
            detail = {"node": node.id, "field": name, "expression": exc.expression}
            raise NodeError(
                "template", f"node {node.id!r}, field {name!r}: {exc}", detail=detail
            ) from exc
    return config


__all__ = ["NODE_ACTIVITY", "RunWorkflow"]
