"""Sub-agents as child workflows: a `subagent` node, and an agent node's `agent_<name>` tool.

The child run's row is created first (`agentdeck.child.start`, with the parent's
`subagent.started`), then its workflow runs as a child of the parent's: the same run
workflow, on the same task queue, with workflow id = the child run's id, so it journals
its own steps and events like any run and readers follow it by `parent_run_id`. When it
ends, `agentdeck.child.end` journals `subagent.ended` and the node's step or the tool's
result from the child's run row. Closing the parent (cancelled, terminated) asks the child
to cancel; a node `timeout` cancels it too. A child that stops at a human step ends its
workflow at once (nobody can resume a child run) and fails the parent's step, as on the
embedded engine.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio import workflow
from temporalio.exceptions import (
    CancelledError,
    ChildWorkflowError,
    WorkflowAlreadyStartedError,
)
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from agentdeck.engine.errors import NodeError
    from agentdeck.engine.journal import StepStatus
    from agentdeck.engine.spec import Node
    from agentdeck.temporal._types import (
        ChildEnd,
        ChildEnded,
        ChildStart,
        ChildStarted,
        Event,
        RunOutcome,
        Step,
    )

if TYPE_CHECKING:
    from agentdeck.temporal.workflow import RunWorkflow

RUN_WORKFLOW = "agentdeck.run"
_LOCAL = timedelta(seconds=60)


class Child:
    """One child run of a parent workflow, from its start to the parent's record of its end."""

    def __init__(
        self,
        wf: RunWorkflow,
        *,
        key: str,
        agent: str,
        inputs: dict[str, Any],
        node_id: str,
        index: int | None,
    ) -> None:
        self.wf, self.key, self.agent, self.inputs = wf, key, agent, inputs
        self.node_id, self.index = node_id, index

    async def run(
        self,
        before: list[Event],
        *,
        step: Step | None = None,
        tool: dict[str, Any] | None = None,
        deadline_s: float | None = None,
    ) -> ChildEnded:
        """Start, await and record the child; the parent's record of its end (a cancel of
        the parent is recorded, then raised on)."""
        wf, meta = self.wf, self.wf.meta()
        start = ChildStart(
            run_id=wf.run_id(), org_id=meta.org_id, key=self.key, agent=self.agent,
            inputs=self.inputs, node_id=self.node_id, index=self.index, options=wf.options(),
            step=step, before=before,
        )  # fmt: skip
        wf.count_events(1)
        started: ChildStarted = await workflow.execute_local_activity(
            "agentdeck.child.start", start, start_to_close_timeout=_LOCAL, result_type=ChildStarted
        )
        end = ChildEnd(
            run_id=wf.run_id(), org_id=meta.org_id, child_run_id=None, agent=self.agent,
            key=self.key, node_id=self.node_id, index=self.index, step=step, tool=tool,
        )  # fmt: skip
        if started.input is None:
            end.failure = started.error
            return await self._end(end)
        end.child_run_id = started.input.run_id
        try:
            await self._await_child(started, deadline_s)
        except TimeoutError:
            end.failure = NodeError("timeout", f"no result within {deadline_s}s").to_dict()
        except WorkflowAlreadyStartedError:
            message = f"child run {end.child_run_id} already has a workflow"
            end.failure = NodeError("subagent", message).to_dict()
        except (asyncio.CancelledError, ChildWorkflowError) as exc:
            if isinstance(exc, ChildWorkflowError) and not isinstance(exc.cause, CancelledError):
                message = f"child run {end.child_run_id} failed: {exc.cause or exc}"
                end.failure = NodeError("subagent", message).to_dict()
            else:  # the parent is being cancelled: record it, then go on cancelling
                end.failure = NodeError("cancelled", "run cancelled").to_dict()
                await self._end(end)
                raise
        return await self._end(end)

    async def _await_child(self, started: ChildStarted, deadline_s: float | None) -> RunOutcome:
        assert started.input is not None
        self.wf.count_events(8)  # initiated, started, completed, and workflow tasks around them
        handle = await workflow.start_child_workflow(
            RUN_WORKFLOW,
            started.input,
            id=started.input.run_id,
            task_queue=workflow.info().task_queue,
            parent_close_policy=ParentClosePolicy.REQUEST_CANCEL,
            result_type=RunOutcome,
        )
        outcome: RunOutcome = await (
            handle if deadline_s is None else asyncio.wait_for(handle, deadline_s)
        )
        return outcome

    async def _end(self, end: ChildEnd) -> ChildEnded:
        self.wf.count_events(1)
        ended: ChildEnded = await workflow.execute_local_activity(
            "agentdeck.child.end", end, start_to_close_timeout=_LOCAL, result_type=ChildEnded
        )
        return ended


async def run_subagent_node(
    wf: RunWorkflow, node: Node, index: int | None, config: dict[str, Any], base: int
) -> Step:
    """A `subagent` node's attempt: its child run to its end, the step closed from it. A
    failed child fails the step (kind subagent; `on_error` applies), not retried: a retry
    would find the same child run, ended the same way."""
    agent = getattr(node, "agent", "")
    attempt = base + 1
    default = node.default if node.on_error == "continue" and index is None else None
    step = Step(
        node_id=node.id, attempt=attempt, status=StepStatus.RUNNING, index=index,
        input=config, output=default,
    )  # fmt: skip
    started = Event(type="step.started", data={"node": node.id, "attempt": attempt, "index": index})
    child = Child(
        wf, key=wf.key(node.id, index), agent=agent, inputs=dict(config.get("inputs") or {}),
        node_id=node.id, index=index,
    )  # fmt: skip
    ended = await child.run([started], step=step, deadline_s=node.timeout)
    assert ended.step is not None
    return ended.step


__all__ = ["RUN_WORKFLOW", "Child", "run_subagent_node"]
