"""`tool`: call one tool with the rendered arguments."""

from __future__ import annotations

from agentdeck.engine.nodes._context import NodeContext, NodeResult
from agentdeck.engine.spec import ToolNode


async def run_tool(ctx: NodeContext) -> NodeResult:
    """Call the tool through the ToolPort, forwarding the idempotency key; emits
    `tool.called` and `tool.result`. Raises the port's NodeError."""
    node = ctx.node
    assert isinstance(node, ToolNode)
    args = ctx.config["args"]
    await ctx.emit("tool.called", {"node": node.id, "name": node.tool, "arguments": args})
    output = await ctx.ports.need_tools().call(node.tool, args, idempotency_key=ctx.idempotency_key)
    await ctx.emit("tool.result", {"node": node.id, "name": node.tool, "result": output})
    return NodeResult(output=output)
