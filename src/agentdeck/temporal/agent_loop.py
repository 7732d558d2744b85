"""An agent node on Temporal: the embedded engine's loop in the workflow, each call an activity.

`engine.nodes.agent.drive_loop` is deterministic apart from its calls, so the workflow runs
it, and makes each call one activity (`agent_activities`): the setup (tools, first turn),
every model turn, every tool call, and (locally) the finish. A worker lost mid-loop loses
at most the call it was making: the history holds every answer before it. Calls of
`agent_<name>` tools are child workflows (`children`). Tokens stream from the model
activity through the run broker; only the final answer of each turn enters the history.

Activity ids are `<node>[<item>]#<attempt>/<call>` (`setup`, `model<iteration>`,
`tool<n>`), so a replay that reorders calls fails loudly. The node's `retry` is each call's
RetryPolicy (the kinds it does not retry are non-retryable), `timeout` bounds the whole
loop, `on_error` applies to the node's failure as for any node.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar, cast

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    ChildWorkflowError,
)
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from agentdeck.engine.errors import ErrorKind, Interrupt, NodeError
    from agentdeck.engine.journal import StepStatus
    from agentdeck.engine.nodes.agent import AGENT_TOOL_PREFIX, drive_loop
    from agentdeck.engine.nodes.approval import LoopState
    from agentdeck.engine.nodes.knowledge_tool import KNOWLEDGE_TOOL
    from agentdeck.engine.ports import ChatMessage, ChatRequest, ChatResult, ToolCall
    from agentdeck.engine.spec import AgentNode
    from agentdeck.temporal._types import (
        AgentEnd,
        AgentStart,
        AgentTask,
        CloseStep,
        Event,
        ModelCall,
        Step,
        ToolAnswer,
        ToolCallTask,
    )
    from agentdeck.temporal.children import Child

if TYPE_CHECKING:
    from agentdeck.temporal.workflow import RunWorkflow

T = TypeVar("T")
_LOCAL = timedelta(seconds=60)
_KINDS: tuple[ErrorKind, ...] = ErrorKind.__args__  # type: ignore[attr-defined]


class AgentDriver:
    """One attempt of an agent node, driven by the run's workflow."""

    def __init__(
        self,
        wf: RunWorkflow,
        node: AgentNode,
        index: int | None,
        config: dict[str, Any],
        base: int,
        *,
        sources: list[dict[str, Any]],
        cite: bool,
        resume: Any,
    ) -> None:
        self.wf, self.node, self.index = wf, node, index
        self.attempt = base + 1
        self.task = AgentTask(
            run_id=wf.run_id(), meta=wf.meta(), node=node.model_dump(mode="json", by_alias=True),
            config=config, attempt=self.attempt, index=index, sources=sources, cite=cite,
            resume=resume,
        )  # fmt: skip
        where = node.id if index is None else f"{node.id}[{index}]"
        self.prefix = f"{where}#{self.attempt}"
        self.state = LoopState()
        self.start: AgentStart | None = None
        self.passages: list[dict[str, Any]] = list(sources)

    async def run(self) -> Step:
        """The attempt to its final step: completed, interrupted (an approval) or failed."""
        node = self.node
        try:
            if node.timeout is None:
                result = await self._loop()
            else:
                result = await asyncio.wait_for(self._loop(), node.timeout)
        except TimeoutError:
            return await self._fail(NodeError("timeout", f"no result within {node.timeout}s"))
        except Interrupt as interrupt:
            return await self._close(StepStatus.INTERRUPTED, interrupt.payload, None, [])
        except NodeError as exc:
            return await self._fail(exc)
        except (asyncio.CancelledError, ActivityError, ChildWorkflowError) as exc:
            if not isinstance(exc, asyncio.CancelledError) and not isinstance(
                exc.cause, CancelledError
            ):
                raise
            await self._fail(NodeError("cancelled", "run cancelled"))
            raise
        return await self._finish(result)

    async def _loop(self) -> ChatResult:
        start = self.start = await self.call(
            "agentdeck.agent.setup", self.task, "setup", AgentStart
        )
        self.state = LoopState.load(start.state)
        self.passages = start.passages
        return await drive_loop(
            self.node,
            _Calls(self),
            self.state,
            specs=start.specs,
            approve=start.approve,
            decision=start.decision,
            key=self.wf.key(self.node.id, self.index),
            cancelled=lambda: False,  # a cancel reaches the workflow as CancelledError
        )

    async def call(self, name: str, arg: Any, suffix: str, result_type: type[T]) -> T:
        """One call as an activity; its NodeError raised as a NodeError."""
        opts, node = self.wf.options(), self.node
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
        self.wf.count_events(6)
        try:
            result: T = await workflow.execute_activity(
                name,
                arg,
                activity_id=f"{self.prefix}/{suffix}",
                start_to_close_timeout=timedelta(seconds=bound),
                heartbeat_timeout=timedelta(seconds=opts.heartbeat_timeout_s),
                retry_policy=retry,
                cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
                result_type=result_type,
            )
        except ActivityError as exc:
            cause = exc.cause
            if isinstance(cause, CancelledError):
                raise
            if isinstance(cause, ApplicationError) and cause.details:
                error = cause.details[0]
                if isinstance(error, dict) and error.get("kind") in _KINDS:
                    kind = cast("ErrorKind", error["kind"])
                    raise NodeError(
                        kind, str(error.get("message")), detail=error.get("detail")
                    ) from exc
            message = f"the node's activity failed: {cause or exc}"
            raise NodeError("internal", message) from exc
        return result

    # -- the attempt's end -----------------------------------------------------------------

    async def _finish(self, result: ChatResult) -> Step:
        end = AgentEnd(
            task=self.task, state=self.state.dump(), passages=self.passages, result=result
        )
        self.wf.count_events(1)
        step: Step = await workflow.execute_local_activity(
            "agentdeck.agent.finish", end, start_to_close_timeout=_LOCAL, result_type=Step
        )
        return step

    async def _fail(self, exc: NodeError) -> Step:
        output = (
            self.node.default if self.node.on_error == "continue" and self.index is None else None
        )
        error = exc.to_dict()
        return await self._close(
            StepStatus.FAILED, output, error, [("step.failed", {"error": error})]
        )

    async def _close(
        self,
        status: StepStatus,
        output: Any,
        error: dict[str, Any] | None,
        events: list[tuple[str, dict[str, Any]]],
    ) -> Step:
        step = Step(
            node_id=self.node.id, attempt=self.attempt, status=status, index=self.index,
            output=output, error=error,
        )  # fmt: skip
        data = {"node": self.node.id, "attempt": self.attempt, "index": self.index}
        close = CloseStep(
            run_id=self.wf.run_id(), org_id=self.wf.meta().org_id, step=step,
            events=[Event(type=t, data={**data, **d}) for t, d in events],
        )  # fmt: skip
        self.wf.count_events(1)
        closed: Step = await workflow.execute_local_activity(
            "agentdeck.run.close_step", close, start_to_close_timeout=_LOCAL, result_type=Step
        )
        return closed


class _Calls:
    """The loop's calls as activities (and child workflows for `agent_<name>` tools)."""

    def __init__(self, driver: AgentDriver) -> None:
        self.driver = driver

    async def model(self, request: ChatRequest, iteration: int) -> ChatResult:
        call = ModelCall(task=self.driver.task, request=request, iteration=iteration)
        return await self.driver.call(
            "agentdeck.agent.model", call, f"model{iteration}", ChatResult
        )

    async def tool(self, call: ToolCall, index: int, rejected: str | None) -> ChatMessage:
        d, node = self.driver, self.driver.node
        agent = call.name.removeprefix(AGENT_TOOL_PREFIX)
        if rejected is None and call.name.startswith(AGENT_TOOL_PREFIX) and agent in node.agents:
            return await self._agent(call, index, agent)
        assert d.start is not None
        searching = call.name == KNOWLEDGE_TOOL and bool(node.knowledge_bases)
        task = ToolCallTask(
            task=d.task, call=call, index=index, rejected=rejected, tools=d.start.tools,
            memory=d.start.memory, passages=d.passages if searching else [],
        )  # fmt: skip
        answer = await d.call("agentdeck.agent.tool", task, f"tool{index}", ToolAnswer)
        if searching:
            d.passages = answer.passages
        return answer.message

    async def _agent(self, call: ToolCall, index: int, agent: str) -> ChatMessage:
        d = self.driver
        base = {"node": d.node.id, "call_id": call.id, "name": call.name, "index": index}
        called = Event(type="tool.called", data={**base, "arguments": call.arguments})
        child = Child(
            d.wf, key=f"{d.wf.key(d.node.id, d.index)}:{index}", agent=agent,
            inputs=dict(call.arguments), node_id=d.node.id, index=d.index,
        )  # fmt: skip
        ended = await child.run([called], tool=base)
        return ChatMessage("tool", ended.content or "", tool_call_id=call.id)


__all__ = ["AgentDriver"]
