"""`tool`: call one tool with the rendered arguments."""

from __future__ import annotations

from agentdeck.engine.errors import NodeError
from agentdeck.engine.nodes.context import NodeContext, NodeResult
from agentdeck.engine.spec import ToolNode


async def run_tool(ctx: NodeContext) -> NodeResult:
    """Call the tool through the ToolPort, forwarding the step's idempotency key (the port
    answers a call of this key that already finished from its record); emits
    `tool.called` and `tool.result` (with the error when it fails). Raises the port's
    NodeError, which fails the node by its `on_error` and retry policy."""
    node = ctx.node
    assert isinstance(node, ToolNode)
    args = ctx.config["args"]
    base = {"node": node.id, "name": node.tool}
    await ctx.emit("tool.called", {**base, "arguments": args})
    try:
        output = await ctx.ports.need_tools().call(
            node.tool, args, idempotency_key=ctx.idempotency_key
        )
    except NodeError as exc:
        await ctx.emit("tool.result", {**base, "error": exc.to_dict()})
        raise
    await ctx.emit("tool.result", {**base, "result": output})
    return NodeResult(output=output)
