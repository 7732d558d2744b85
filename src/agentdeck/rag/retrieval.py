"""Retrieval and citations: query → hits → numbered context for the LLM → cited sources.

The LLM is shown sources numbered ``[1]``, ``[2]``, ... (`format_context`) and asked to cite
them with those markers; `cited` maps the markers in its answer back to the chunks.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from agentdeck.rag.embeddings import Embedder
from agentdeck.rag.stores.base import VectorStore
from agentdeck.rag.types import Filters, SearchHit, SearchMode

_MARKER = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")


async def retrieve(
    store: VectorStore,
    embedder: Embedder,
    kb_ids: Sequence[str],
    query: str,
    *,
    top_k: int = 5,
    mode: SearchMode = "hybrid",
    filters: Filters | None = None,
    min_score: float | None = None,
) -> list[SearchHit]:
    """The `top_k` chunks of the knowledge bases `kb_ids` that best answer `query`.

    The query is embedded only for vector and hybrid modes. Raises `EmbeddingError` if the
    model fails and `StoreError` for invalid filters or an embedder/store dimension mismatch.
    """
    if not query.strip():
        return []
    vector = None
    if mode != "fulltext":
        (vector,) = await embedder.embed([query])
    return await store.search(
        kb_ids, vector, query, top_k=top_k, mode=mode, filters=filters, min_score=min_score
    )


@dataclass(frozen=True, slots=True)
class Citation:
    """A numbered source: the ``[number]`` marker and the chunk it stands for."""

    number: int
    hit: SearchHit

    @property
    def label(self) -> str:
        """Human-readable source, e.g. ``Handbook, p. 3, Safety > Fire``."""
        parts = [self.hit.title or self.hit.document_id]
        if self.hit.page is not None:
            parts.append(f"p. {self.hit.page}")
        if self.hit.heading_path:
            parts.append(" > ".join(self.hit.heading_path))
        return ", ".join(parts)


def number_hits(hits: Sequence[SearchHit]) -> list[Citation]:
    """Number hits from 1 in rank order."""
    return [Citation(i, hit) for i, hit in enumerate(hits, start=1)]


def format_context(citations: Sequence[Citation], max_chars: int | None = None) -> str:
    """The sources block for a prompt: ``[n] label`` then the chunk text, per source.

    Stops before the source that would exceed `max_chars` (the first one is always kept).
    """
    blocks: list[str] = []
    used = 0
    for citation in citations:
        block = f"[{citation.number}] {citation.label}\n{citation.hit.text.strip()}"
        if max_chars is not None and blocks and used + len(block) > max_chars:
            break
        blocks.append(block)
        used += len(block) + 2
    return "\n\n".join(blocks)


def cited(answer: str, citations: Sequence[Citation]) -> list[Citation]:
    """The citations an answer refers to (``[2]``, ``[1, 3]``), in order of first mention.

    Markers with no matching source (hallucinated numbers) are ignored.
    """
    by_number = {c.number: c for c in citations}
    found: list[Citation] = []
    for match in _MARKER.finditer(answer):
        for raw in match.group(1).split(","):
            citation = by_number.get(int(raw))
            if citation is not None and citation not in found:
                found.append(citation)
    return found


def strip_unknown_markers(answer: str, citations: Sequence[Citation]) -> str:
    """`answer` without markers that point at no source (``[7]`` when only 1-5 exist)."""
    known = {c.number for c in citations}

    def keep(match: re.Match[str]) -> str:
        numbers = [n.strip() for n in match.group(1).split(",") if int(n) in known]
        return f"[{', '.join(numbers)}]" if numbers else ""

    return _MARKER.sub(keep, answer)
