"""`retrieval`: search knowledge bases through the RetrievalPort, with numbered passages."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from agentdeck.engine.errors import NodeError
from agentdeck.engine.nodes.citations import CitationBook, format_passages
from agentdeck.engine.nodes.context import NodeContext, NodeResult
from agentdeck.engine.spec import RetrievalNode

_SCALARS = (str, int, float, bool)
_FILTER_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$")  # as the stores accept


def filter_problem(filters: Any) -> str | None:
    """Why `filters` is not a metadata filter (a mapping of scalars or lists of scalars)."""
    if filters is None:
        return None
    if not isinstance(filters, Mapping):
        return f"must be a mapping, got {type(filters).__name__}"
    for key, value in filters.items():
        if not isinstance(key, str) or not _FILTER_KEY.match(key):
            return f"invalid key {key!r}: use letters, digits, '_' or '-' (at most 64)"
        values = value if isinstance(value, list) else [value]
        if isinstance(value, list) and not value:
            return f"{key!r}: an empty list matches nothing"
        for one in values:
            if not isinstance(one, _SCALARS):
                return f"{key!r}: values must be strings, numbers or booleans (or lists of them)"
    return None


async def run_retrieval(ctx: NodeContext) -> NodeResult:
    """Output `{query, passages, context}`; passages best first, numbered from 1.

    Raises NodeError(kind="invalid_input") for rendered filters that are not a metadata
    filter, and the port's NodeError (kind "retrieval" for an unknown knowledge base).
    """
    node = ctx.node
    assert isinstance(node, RetrievalNode)
    query = str(ctx.config["query"]).strip()
    filters = ctx.config.get("filters")
    problem = filter_problem(filters)
    if problem is not None:
        raise NodeError("invalid_input", f"filters: {problem}", detail={"field": "filters"})
    if not query:
        return NodeResult(output={"query": query, "passages": [], "context": ""})
    hits = await ctx.ports.need_retrieval().retrieve(
        node.knowledge_bases,
        query,
        top_k=node.top_k,
        mode=node.mode,
        filters=filters,
        min_score=node.min_score,
    )
    passages = CitationBook().add(hits[: node.top_k])
    output = {"query": query, "passages": passages, "context": format_passages(passages)}
    return NodeResult(output=output)
