"""The journal side of sub-agents on Temporal: a child run's row, and the parent's events.

A sub-agent (a `subagent` node, or an agent node's `agent_<name>` tool) is a child run: a
normal run row of the named agent in the parent's space, linked by `parent_run_id`, its id
derived from the parent step's idempotency key as the embedded engine derives it (so a
repeated start finds the same child). The workflow executes it as a child workflow (see
`children`); these local activities write what the embedded engine writes around it:
`agentdeck.child.start` creates the row and journals `subagent.started` (with the node's
`step.started` or the tool's `tool.called`), `agentdeck.child.end` journals `subagent.ended`
and the node's `step.completed`/`step.failed` or the tool's `tool.result`.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import JSON
from temporalio import activity

from agentdeck.engine.errors import NodeError
from agentdeck.engine.journal import StepStatus, idempotency_key
from agentdeck.kit.db import transaction
from agentdeck.models import Run
from agentdeck.run.ports import child_run_id
from agentdeck.run.repository import agent_in_space, run_by_id, spec_of
from agentdeck.temporal._types import (
    ChildEnd,
    ChildEnded,
    ChildStart,
    ChildStarted,
    RunInput,
    Step,
)
from agentdeck.temporal.activities import Activities


class ChildActivities:
    """The sub-agent activities of one process (they share its `Activities`)."""

    def __init__(self, owner: Activities) -> None:
        self.owner = owner

    @activity.defn(name="agentdeck.child.start")
    async def start(self, start: ChildStart) -> ChildStarted:
        """Create the child run (once) and journal its start; the child's workflow input,
        or the NodeError (kind subagent) when there is no such agent."""
        child_input: RunInput | None = None
        error: dict[str, Any] | None = None
        try:
            child_input = await self._child(start)
        except NodeError as exc:
            error = exc.to_dict()
        events = [(e.type, e.data) for e in start.before]
        if child_input is not None:
            link = _link(start.node_id, start.index, start.agent, child_input.run_id)
            events.append(("subagent.started", {**link, "idempotency_key": start.key}))
        steps = []
        if start.step is not None:
            key = idempotency_key(start.run_id, start.node_id, start.index)
            running = start.step.model_copy(update={"output": None})  # the default is for a failure
            steps.append(running.record(start.run_id, key))
        journal = self.owner.journal(start.org_id)
        await journal.write(start.run_id, steps, events, finished=False)
        return ChildStarted(input=child_input, error=error)

    async def _child(self, start: ChildStart) -> RunInput:
        child_id = child_run_id(start.key)
        async with transaction(self.owner.sessionmaker) as session:
            child = await run_by_id(session, child_id)
            if child is None:
                parent = await run_by_id(session, uuid.UUID(start.run_id))
                if parent is None:
                    raise NodeError("subagent", f"parent run {start.run_id} is gone")
                target = await agent_in_space(session, parent.space_id, start.agent)
                if target is None:
                    raise NodeError("subagent", f"no agent named {start.agent!r} in this space")
                child = Run(
                    id=child_id, org_id=parent.org_id, space_id=parent.space_id,
                    agent_id=target.id, agent_version=target.current_version,
                    parent_run_id=parent.id, status="pending", inputs=dict(start.inputs),
                    output=JSON.NULL, config={}, metadata_={"idempotency_key": start.key},
                    user_id=parent.user_id, api_key_id=parent.api_key_id,
                )  # fmt: skip
                session.add(child)
                await session.flush()
            spec = await spec_of(session, child.agent_id, child.agent_version)
            if spec is None:
                raise NodeError("subagent", f"agent {start.agent!r} has no version to run")
            return RunInput(
                run_id=str(child.id),
                org_id=str(child.org_id),
                agent_id=str(child.agent_id),
                agent_version=child.agent_version,
                spec=spec,
                inputs=child.inputs,
                options=start.options,
                parent_run_id=start.run_id,
            )

    @activity.defn(name="agentdeck.child.end")
    async def end(self, end: ChildEnd) -> ChildEnded:
        """Journal how the child ended (from its run row, or the parent's `failure`) and
        close the node's step or answer the tool call; once for a node's step."""
        status, output, child_error = "failed", None, None
        if end.child_run_id is not None:
            async with self.owner.sessionmaker() as session:
                run = await run_by_id(session, uuid.UUID(end.child_run_id))
            if run is not None:
                status, output, child_error = run.status, run.output, run.error
            if end.failure is not None:
                status = "cancelled"
        error = end.failure
        if error is None and status != "completed":
            error = NodeError(
                "subagent",
                f"child run {end.child_run_id} of agent {end.agent!r} ended {status}",
                detail={"child_run_id": end.child_run_id, "error": child_error},
            ).to_dict()
        events: list[tuple[str, dict[str, Any]]] = []
        if end.child_run_id is not None:
            link = _link(end.node_id, end.index, end.agent, end.child_run_id)
            events.append(("subagent.ended", {**link, "status": status}))
        journal = self.owner.journal(end.org_id)
        if end.step is not None:
            step = _closed(end.step, output if error is None else end.step.output, error)
            data = {"node": step.node_id, "attempt": step.attempt, "index": step.index}
            if error is None:
                events.append(("step.completed", {**data, "output": step.output}))
            else:
                events.append(("step.failed", {**data, "error": error}))
            key = idempotency_key(end.run_id, step.node_id, step.index)
            await journal.close(step.record(end.run_id, key), events)
            return ChildEnded(status=status, output=output, error=error, step=step)
        base = end.tool or {}
        if error is None:
            events.append(("tool.result", {**base, "result": output}))
            content = output if isinstance(output, str) else json.dumps(output, default=str)
        else:
            events.append(("tool.result", {**base, "error": error}))
            content = json.dumps({"error": error.get("message")})
        await journal.write(end.run_id, [], events)
        return ChildEnded(status=status, output=output, error=error, content=content)


def _link(node_id: str, index: int | None, agent: str, run_id: str) -> dict[str, Any]:
    return {"node": node_id, "index": index, "agent": agent, "run_id": run_id}


def _closed(step: Step, output: Any, error: dict[str, Any] | None) -> Step:
    status = StepStatus.COMPLETED if error is None else StepStatus.FAILED
    return step.model_copy(update={"status": status, "output": output, "error": error})


__all__ = ["ChildActivities"]
