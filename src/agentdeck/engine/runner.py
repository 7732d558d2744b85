"""Runs one node: for_each fan-out, retries with backoff, timeouts, journal records, events.

Everything a node raises becomes a failed step of this run; only journal (infrastructure)
errors and cancellation propagate.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from agentdeck.engine import templates
from agentdeck.engine.errors import EngineError, Interrupt, NodeError, TemplateError
from agentdeck.engine.journal import Journal, StepRecord, StepStatus, idempotency_key
from agentdeck.engine.nodes import EXECUTORS, NodeContext, Ports
from agentdeck.engine.planner import Graph, NodeState, RunState
from agentdeck.engine.ports import EventSink, NullSink
from agentdeck.engine.spec import Node, RetryPolicy

PURE_KINDS = frozenset({"transform", "human"})
"""Node kinds that act only on the run's own data: their starts may be batched with the
step's end. Every other kind (models, tools, HTTP, sub-agents) has its start stored before
it acts (`Journal.start_step`'s ``durable``)."""

Sleep = Callable[[float], Awaitable[None]]


class MaxStepsExceeded(EngineError):
    """The run used up `max_steps` step attempts."""


@dataclass(slots=True)
class Events:
    """Journals durable events, then publishes them; ephemeral ones are only published."""

    run_id: str
    journal: Journal
    sink: EventSink
    _silent: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self._silent = type(self.sink) is NullSink  # publishing to it is a no-op

    async def emit(self, type: str, data: dict[str, Any]) -> None:
        seq = await self.journal.append_event(self.run_id, type, data)
        if not self._silent:
            await self.sink.publish(self.run_id, seq, type, data)

    async def ephemeral(self, type: str, data: dict[str, Any]) -> None:
        await self.sink.publish_ephemeral(self.run_id, type, data)


def backoff_delay(policy: RetryPolicy, retry: int, rand: float, error: NodeError) -> float:
    """Delay before retry number `retry` (0-based). Equal jitter keeps at least half the
    delay; a server's numeric `Retry-After` wins when larger (capped at max_delay)."""
    if policy.backoff == "fixed":
        delay = policy.initial_delay
    else:
        delay = min(policy.max_delay, policy.initial_delay * (2**retry))
    if policy.jitter:
        delay = delay / 2 + rand * delay / 2
    if isinstance(error.detail, dict):
        after = error.detail.get("retry_after")
        if isinstance(after, str) and after.isdigit():
            delay = max(delay, min(float(after), policy.max_delay))
    return delay


async def _render_config(node: Node, context: dict[str, Any]) -> dict[str, Any]:
    """The node's templated fields, rendered (heavy ones in a worker thread). Raises
    NodeError(kind="template") naming the node and the field."""
    config: dict[str, Any] = {}
    for name in node.TEMPLATED:
        value = getattr(node, name)
        if isinstance(value, list) and value and hasattr(value[0], "model_dump"):
            value = [v.model_dump() for v in value]
        try:
            config[name] = await templates.render_async(value, context)
        except TemplateError as exc:
            detail = {"node": node.id, "field": name, "expression": exc.expression}
            raise NodeError(
                "template", f"node {node.id!r}, field {name!r}: {exc}", detail=detail
            ) from exc
    return config


class Runner:
    """Executes nodes of one run against a shared, in-memory `RunState`."""

    def __init__(
        self,
        *,
        run_id: str,
        max_steps: int,
        journal: Journal,
        events: Events,
        ports: Ports,
        state: RunState,
        graph: Graph,
        sleep: Sleep,
        rand: Callable[[], float],
        cancel: asyncio.Event,
    ) -> None:
        self.run_id = run_id
        self.max_steps = max_steps
        self.journal = journal
        self.events = events
        self.ports = ports
        self.state = state
        self.static_configs = graph.static_configs
        self.sources = graph.sources
        self.citing = graph.citing
        self.sleep = sleep
        self.rand = rand
        self.cancel = cancel
        self.stopping = False
        """Set by the loop before it cancels in-flight steps to end the run (cancel, timeout,
        failure). Any other cancellation is a worker shutting down: the attempt then stays
        `running`, so the next worker re-runs it with the same idempotency key."""

    async def run_node(self, node: Node) -> StepRecord:
        """Run the node to a final record (completed, failed or interrupted), applied to state.

        Raises MaxStepsExceeded, CancelledError, or journal errors.
        """
        previous = self.state.nodes.get(node.id)
        attempt = previous.attempt if previous else 0
        if node.for_each is None:
            return await self._attempts(node, None, None, attempt)
        return await self._fan_out(node, attempt)

    async def _fan_out(self, node: Node, attempt: int) -> StepRecord:
        assert node.for_each is not None
        try:
            items = await templates.evaluate_async(node.for_each, self.state.context())
            if not isinstance(items, list | tuple):
                raise TemplateError(node.for_each, f"gave {type(items).__name__}, not a list")
        except TemplateError as exc:
            return await self._record(
                node, attempt + 1, status=StepStatus.FAILED, output=None, error=exc, index=None
            )
        done = self.state.items.get(node.id, {})
        outputs: list[Any] = [None] * len(items)
        semaphore = asyncio.Semaphore(node.max_concurrency)

        async def one(index: int, item: Any) -> None:
            prior = done.get(index)
            if prior is not None and prior.status is StepStatus.COMPLETED:
                outputs[index] = prior.output  # never re-run a finished item
                return
            async with semaphore:
                record = await self._attempts(node, index, item, prior.attempt if prior else 0)
            if record.status is not StepStatus.COMPLETED:
                raise _ItemFailed(record)
            outputs[index] = record.output

        failed: StepRecord | None = None
        try:
            async with asyncio.TaskGroup() as group:
                for index, item in enumerate(items):
                    group.create_task(one(index, item))
        except BaseExceptionGroup as group:
            leaves = list(_leaves(group))
            for leaf in leaves:
                if isinstance(leaf, MaxStepsExceeded):
                    raise leaf from None
            item_failures = [leaf for leaf in leaves if isinstance(leaf, _ItemFailed)]
            if not item_failures:
                raise
            failed = item_failures[0].record
        if failed is not None:
            error = failed.error or {}
            failure = NodeError(
                error.get("kind", "internal"), f"item {failed.index}: {error.get('message')}"
            )
            return await self._record(
                node, attempt + 1, status=StepStatus.FAILED, output=None, error=failure, index=None
            )
        return await self._record(
            node, attempt + 1, status=StepStatus.COMPLETED, output=outputs, error=None, index=None
        )

    async def _record(
        self,
        node: Node,
        attempt: int,
        *,
        status: StepStatus,
        output: Any,
        error: Exception | None,
        index: int | None,
    ) -> StepRecord:
        """A finished record written in one go (for_each totals, failures before start)."""
        err = _error_dict(error) if error else None
        if status is StepStatus.FAILED and node.on_error == "continue":
            output = node.default
        record = StepRecord(
            run_id=self.run_id,
            node_id=node.id,
            attempt=attempt,
            status=status,
            idempotency_key=idempotency_key(self.run_id, node.id, index),
            index=index,
            output=output,
            error=err,
        )
        await self.journal.record_step(record)
        self.state.apply(record)
        data = {"node": node.id, "attempt": attempt, "index": index}
        if status is StepStatus.COMPLETED:
            await self.events.emit("step.completed", {**data, "output": output})
        else:
            await self.events.emit("step.failed", {**data, "error": err})
        return record

    async def _attempts(self, node: Node, index: int | None, item: Any, attempt: int) -> StepRecord:
        policy = node.retry
        key = idempotency_key(self.run_id, node.id, index)
        execute = EXECUTORS[node.type]
        static = self.static_configs.get(node.id)
        for retry in range(policy.max_attempts):
            attempt += 1
            if self.state.attempts >= self.max_steps:
                raise MaxStepsExceeded(f"max_steps ({self.max_steps}) reached at {node.id!r}")
            if static is not None:  # nothing to render: skip building the context
                config = dict(static)
            else:
                try:
                    config = await _render_config(node, self.state.context(item))
                except NodeError as exc:
                    return await self._record(
                        node, attempt, status=StepStatus.FAILED, output=None, error=exc, index=index
                    )
            started = await self.journal.start_step(
                self.run_id,
                node.id,
                attempt=attempt,
                index=index,
                input=config,
                idempotency_key=key,
                durable=node.type not in PURE_KINDS,
            )
            self.state.apply(started)
            event = {"node": node.id, "attempt": attempt, "index": index}
            await self.events.emit("step.started", event)
            ctx = NodeContext(
                node=node,
                config=config,
                run_id=self.run_id,
                idempotency_key=key,
                attempt=attempt,
                ports=self.ports,
                emit=self.events.emit,
                emit_ephemeral=self.events.ephemeral,
                cancel=self.cancel,
                index=index,
                sources=self._passages(node.id) if node.id in self.sources else (),
                cite=node.id in self.citing,
                resume=self.state.resumes.get(node.id) if index is None else None,
            )
            try:
                if node.timeout is None:
                    result = await execute(ctx)
                else:
                    async with asyncio.timeout(node.timeout):
                        result = await execute(ctx)
            except Interrupt as interrupt:
                return await self._finish(
                    node,
                    attempt,
                    index=index,
                    status=StepStatus.INTERRUPTED,
                    output=interrupt.payload,
                    error=None,
                )
            except asyncio.CancelledError:
                if self.stopping:
                    error = NodeError("cancelled", "run cancelled")
                    await self._finish(
                        node, attempt, index=index, status=StepStatus.FAILED, output=None,
                        error=error,
                    )  # fmt: skip
                raise
            except TimeoutError:
                failure = NodeError("timeout", f"no result within {node.timeout}s")
            except NodeError as exc:
                failure = exc
            except Exception as exc:  # a buggy node or port fails its step, not the worker
                failure = NodeError("internal", f"{type(exc).__name__}: {exc}")
            else:
                return await self._finish(
                    node,
                    attempt,
                    index=index,
                    status=StepStatus.COMPLETED,
                    output=result.output,
                    error=None,
                    usage=result.usage,
                )
            if retry + 1 >= policy.max_attempts or failure.kind not in policy.retry_on:
                return await self._finish(
                    node, attempt, index=index, status=StepStatus.FAILED, output=None, error=failure
                )
            await self._finish(
                node,
                attempt,
                index=index,
                status=StepStatus.FAILED,
                output=None,
                error=failure,
                final=False,
            )
            delay = backoff_delay(policy, retry, self.rand(), failure)
            await self.events.emit(
                "step.retrying", {**event, "error": failure.to_dict(), "delay": delay}
            )
            await self.sleep(delay)
        raise AssertionError("unreachable: the last attempt always returns")  # pragma: no cover

    def _passages(self, node_id: str) -> tuple[dict[str, Any], ...]:
        """The numbered passages of the retrieval nodes `node_id` reads, as they finished."""
        out: list[dict[str, Any]] = []
        for source in self.sources[node_id]:
            state = self.state.nodes.get(source)
            output = state.output if state is not None else None
            passages = output.get("passages") if isinstance(output, dict) else None
            if isinstance(passages, list):
                out.extend(p for p in passages if isinstance(p, dict))
        return tuple(out)

    async def _finish(
        self,
        node: Node,
        attempt: int,
        *,
        index: int | None,
        status: StepStatus,
        output: Any,
        error: NodeError | None,
        usage: Any = None,
        final: bool = True,
    ) -> StepRecord:
        err = error.to_dict() if error else None
        if final and status is StepStatus.FAILED and node.on_error == "continue" and index is None:
            output = node.default
        kwargs: dict[str, Any] = {"usage": usage} if usage is not None else {}
        record = await self.journal.finish_step(
            self.run_id,
            node.id,
            attempt=attempt,
            index=index,
            status=status,
            output=output,
            error=err,
            **kwargs,
        )
        self.state.apply(record)
        if status is StepStatus.COMPLETED:
            data = {"node": node.id, "attempt": attempt, "index": index, "output": output}
            await self.events.emit("step.completed", data)
        elif status is StepStatus.FAILED and final:
            data = {"node": node.id, "attempt": attempt, "index": index, "error": err}
            await self.events.emit("step.failed", data)
        return record


class _ItemFailed(Exception):
    def __init__(self, record: StepRecord) -> None:
        self.record = record
        super().__init__(record.node_id)


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        out.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return out


def _error_dict(error: Exception) -> dict[str, Any]:
    if isinstance(error, NodeError):
        return error.to_dict()
    if isinstance(error, TemplateError):
        return {"kind": "template", "message": str(error)}
    return {"kind": "internal", "message": f"{type(error).__name__}: {error}"}


__all__ = ["Events", "MaxStepsExceeded", "NodeState", "Runner", "backoff_delay"]
