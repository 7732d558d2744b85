"""The built-in `knowledge_search` tool of an `agent` node with `knowledge_bases`.

The model decides when and what to search; nothing is stuffed into its context up front.
Passages are numbered in one `CitationBook` per step, so `[n]` means the same chunk across
every search of the loop and in the final answer's citations.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentdeck.engine.errors import NodeError
from agentdeck.engine.nodes.citations import CitationBook, format_passages
from agentdeck.engine.nodes.context import NodeContext
from agentdeck.engine.ports import ToolSpec
from agentdeck.engine.spec import AgentNode

KNOWLEDGE_TOOL = "knowledge_search"
MAX_QUERY_CHARS = 2000


class BadArguments(NodeError):
    """The model called the tool wrongly: reported back to it, the step goes on."""

    def __init__(self, message: str) -> None:
        super().__init__("invalid_input", message)


def knowledge_tool(node: AgentNode) -> ToolSpec:
    """What the model is told about `knowledge_search`."""
    options = node.knowledge_search
    names = ", ".join(repr(name) for name in node.knowledge_bases)
    return ToolSpec(
        name=KNOWLEDGE_TOOL,
        description=(
            f"Search the knowledge bases {names} for passages about a question. Returns "
            "numbered passages; cite the ones you use in your answer with their markers, "
            "e.g. [1] or [2, 3]. A passage keeps its number across searches."
        ),
        parameters={
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "What to search for."},
                "top_k": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": options.max_top_k,
                    "description": f"How many passages (default {options.top_k}).",
                },
            },
            "required": ["query"],
            "additionalProperties": False,
        },
    )


class KnowledgeSearch:
    """One agent step's `knowledge_search`: searches through the RetrievalPort."""

    def __init__(self, ctx: NodeContext, node: AgentNode, book: CitationBook) -> None:
        self.ctx, self.node, self.book = ctx, node, book

    def _arguments(self, arguments: Mapping[str, Any]) -> tuple[str, int]:
        options = self.node.knowledge_search
        query = arguments.get("query")
        if not isinstance(query, str) or not query.strip():
            raise BadArguments("`query` must be a non-empty string")
        if len(query) > MAX_QUERY_CHARS:
            raise BadArguments(f"`query` is longer than {MAX_QUERY_CHARS} characters")
        unknown = sorted(set(arguments) - {"query", "top_k"})
        if unknown:
            raise BadArguments(f"unknown arguments {unknown}; use `query` and `top_k`")
        top_k = arguments.get("top_k", options.top_k)
        if top_k is None:
            top_k = options.top_k
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise BadArguments("`top_k` must be a positive integer")
        return query.strip(), min(top_k, options.max_top_k)

    async def __call__(self, arguments: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
        """(the result for the `tool.result` event, the text shown to the model).

        Raises BadArguments (reported back to the model) or the port's NodeError (which
        fails the step: the model cannot repair a missing knowledge base).
        """
        query, top_k = self._arguments(arguments)
        options = self.node.knowledge_search
        hits = await self.ctx.ports.need_retrieval().retrieve(
            self.node.knowledge_bases,
            query,
            top_k=top_k,
            mode=options.mode,
            filters=options.filters,
            min_score=options.min_score,
        )
        passages = self.book.add(hits[:top_k])
        content = format_passages(passages) or f"No passages found for {query!r}."
        return {"query": query, "passages": passages}, content
