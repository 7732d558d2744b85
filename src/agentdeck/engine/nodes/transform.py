"""`transform`: the rendered `value` is the output."""

from __future__ import annotations

from agentdeck.engine.nodes.context import NodeContext, NodeResult


async def run_transform(ctx: NodeContext) -> NodeResult:
    """Return the rendered `value`. Never fails (rendering errors happen before)."""
    return NodeResult(output=ctx.config["value"])
