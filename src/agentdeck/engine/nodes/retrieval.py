"""`retrieval`: search knowledge bases through the RetrievalPort."""

from __future__ import annotations

from agentdeck.engine.nodes._context import NodeContext, NodeResult
from agentdeck.engine.spec import RetrievalNode


async def run_retrieval(ctx: NodeContext) -> NodeResult:
    """Output: the list of passages, best first. Raises the port's NodeError."""
    node = ctx.node
    assert isinstance(node, RetrievalNode)
    passages = await ctx.ports.need_retrieval().retrieve(
        node.knowledge_bases,
        str(ctx.config["query"]),
        top_k=node.top_k,
        filters=ctx.config.get("filters"),
    )
    return NodeResult(output=passages)
