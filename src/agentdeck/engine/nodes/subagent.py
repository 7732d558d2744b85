"""`subagent`: run another agent as a child run and use its output.

The parent's events name every child run (`subagent.started`, `subagent.ended`): which
node (and for_each item) started it, of which agent, and how it ended, so a reader of the
parent run can follow each answer to the run that produced it. The child run carries
`parent_run_id`. An agent node's `agents:` tools go through here too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentdeck.engine.errors import NodeError
from agentdeck.engine.nodes.context import NodeContext, NodeResult
from agentdeck.engine.spec import SubagentNode


async def call_subagent(
    ctx: NodeContext, agent: str, inputs: Mapping[str, Any], idempotency_key: str
) -> Any:
    """Start (idempotently) and await a child run; its output, or NodeError(kind=subagent)."""
    port = ctx.ports.need_subagents()
    child = await port.start(
        agent, inputs, parent_run_id=ctx.run_id, idempotency_key=idempotency_key
    )
    link = {"node": ctx.node.id, "index": ctx.index, "agent": agent, "run_id": child}
    await ctx.emit("subagent.started", {**link, "idempotency_key": idempotency_key})
    result = await port.wait(child)
    await ctx.emit("subagent.ended", {**link, "status": result.status})
    if result.status != "completed":
        raise NodeError(
            "subagent",
            f"child run {child} of agent {agent!r} ended {result.status}",
            detail={"child_run_id": child, "error": result.error},
        )
    return result.output


async def run_subagent(ctx: NodeContext) -> NodeResult:
    """Output: the child run's output. A crash-resumed step finds the same child run."""
    node = ctx.node
    assert isinstance(node, SubagentNode)
    output = await call_subagent(ctx, node.agent, ctx.config["inputs"], ctx.idempotency_key)
    return NodeResult(output=output)
