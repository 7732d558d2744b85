"""The `VectorStore` port and the search orchestration both implementations share.

A store keeps chunks of documents per knowledge base (`kb_id`, the tenant boundary: a search
only ever sees the kb ids it is given). Hybrid search fuses the vector and full-text rankings
with reciprocal-rank fusion (RRF, k=60) of each ranking's top `top_k` (at least 5) chunks.
"""

from __future__ import annotations

import asyncio
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from agentdeck.rag.errors import StoreError
from agentdeck.rag.types import DocumentInfo, EmbeddedChunk, Filters, SearchHit, SearchMode

RRF_K = 60
_FILTER_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$")
_TERM = re.compile(r"\w+", re.UNICODE)
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "from",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "their",
        "there",
        "these",
        "this",
        "to",
        "was",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
        "does",
        "do",
        "did",
        "can",
    ]
)
MAX_TERMS = 32


@runtime_checkable
class VectorStore(Protocol):
    """Chunk storage with vector, full-text and hybrid search, scoped by knowledge base."""

    dim: int

    async def ensure_schema(self) -> None:
        """Create tables and indexes if missing. Idempotent."""
        ...

    async def document_version(self, kb_id: str, doc_id: str) -> str | None:
        """The stored version of a document, or None; lets ingestion skip unchanged files."""
        ...

    async def upsert(
        self, kb_id: str, document: DocumentInfo, chunks: Sequence[EmbeddedChunk]
    ) -> bool:
        """Store a document's chunks, replacing any other version of it.

        Idempotent per (doc_id, version): returns False and changes nothing when that version
        is already stored. Raises `StoreError` for vectors of the wrong size.
        """
        ...

    async def delete_document(self, kb_id: str, doc_id: str) -> bool:
        """Remove a document and its chunks; False if it was not there."""
        ...

    async def search(
        self,
        kb_ids: Sequence[str],
        query_vector: Sequence[float] | None,
        query_text: str,
        *,
        top_k: int = 5,
        mode: SearchMode = "hybrid",
        filters: Filters | None = None,
        min_score: float | None = None,
    ) -> list[SearchHit]:
        """The best `top_k` chunks of the given knowledge bases, best first.

        `filters` match document metadata: ``{key: value}`` for equality, ``{key: [a, b]}``
        for any of. Hits scoring below `min_score` (see `SearchHit.score`) are dropped.
        Raises `StoreError` for a missing or wrong-sized vector in vector/hybrid mode or an
        invalid filter key.
        """
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


def check_filters(filters: Filters | None) -> list[tuple[str, list[str | int | float | bool]]]:
    """Validated filters as (key, allowed values); raises `StoreError` for a bad key or value."""
    checked: list[tuple[str, list[str | int | float | bool]]] = []
    for key, value in (filters or {}).items():
        if not _FILTER_KEY.match(key):
            raise StoreError(f"Invalid metadata filter key {key!r}.")
        values = [value] if isinstance(value, str | int | float | bool) else list(value)
        if not values or not all(isinstance(v, str | int | float | bool) for v in values):
            raise StoreError(f"Filter {key!r} needs a scalar or a non-empty list of scalars.")
        checked.append((key, values))
    return checked


def query_terms(text: str) -> list[str]:
    """Lower-cased search terms of `text`, stop words dropped, at most `MAX_TERMS`."""
    terms: list[str] = []
    for term in _TERM.findall(text.lower()):
        if term not in _STOPWORDS and term not in terms:
            terms.append(term)
    return terms[:MAX_TERMS]


def rrf(rankings: Sequence[Sequence[int]], k: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal-rank fusion of id rankings: (id, sum of 1/(k + rank)), best first.

    Equal scores go by the earlier ranking (the first list wins a tie), then by id."""
    scores: dict[int, float] = {}
    first: dict[int, tuple[int, int]] = {}
    for order, ranking in enumerate(rankings):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
            first.setdefault(item, (order, rank))
    return sorted(scores.items(), key=lambda pair: (-pair[1], first[pair[0]], pair[0]))


class RankedStore(ABC):
    """Implements `search` from three primitives each store provides over integer chunk ids.

    Hybrid search fuses the best max(`top_k`, `rrf_window`) chunks of each ranking."""

    dim: int
    rrf_window: int = 5

    @abstractmethod
    async def _vector_ranking(
        self, kb_ids: Sequence[str], vector: Sequence[float], limit: int, filters: Filters | None
    ) -> list[tuple[int, float]]:
        """(chunk id, cosine similarity), best first."""

    @abstractmethod
    async def _text_ranking(
        self, kb_ids: Sequence[str], terms: list[str], limit: int, filters: Filters | None
    ) -> list[tuple[int, float]]:
        """(chunk id, text rank where higher is better), best first."""

    @abstractmethod
    async def _hits(
        self, scored: Sequence[tuple[int, float]], kb_ids: Sequence[str]
    ) -> list[SearchHit]:
        """Hits for the ids, in the given order, with the given scores."""

    def _check_vector(self, vector: Sequence[float] | None) -> Sequence[float]:
        if vector is None:
            raise StoreError("A query vector is needed for vector and hybrid search.")
        if len(vector) != self.dim:
            raise StoreError(f"The query vector has {len(vector)} dimensions, not {self.dim}.")
        return vector

    async def search(
        self,
        kb_ids: Sequence[str],
        query_vector: Sequence[float] | None,
        query_text: str,
        *,
        top_k: int = 5,
        mode: SearchMode = "hybrid",
        filters: Filters | None = None,
        min_score: float | None = None,
    ) -> list[SearchHit]:
        """See `VectorStore.search`."""
        check_filters(filters)
        kb_ids = list(dict.fromkeys(kb_ids))
        if not kb_ids or top_k <= 0:
            return []
        if mode == "vector":
            vector = self._check_vector(query_vector)
            scored = await self._vector_ranking(kb_ids, vector, top_k, filters)
        elif mode == "fulltext":
            terms = query_terms(query_text)
            scored = await self._text_ranking(kb_ids, terms, top_k, filters) if terms else []
        elif mode == "hybrid":
            vector = self._check_vector(query_vector)
            # Each ranking contributes its best max(top_k, rrf_window) chunks, as in
            # Elasticsearch's RRF (window = size): deeper windows let chunks that are mediocre
            # in both rankings crowd out one that is best in one of them.
            pool = max(self.rrf_window, top_k)
            terms = query_terms(query_text)
            if terms:  # concurrently where the store can (PostgreSQL: two connections)
                by_vector, by_text = await asyncio.gather(
                    self._vector_ranking(kb_ids, vector, pool, filters),
                    self._text_ranking(kb_ids, terms, pool, filters),
                )
            else:
                by_vector, by_text = await self._vector_ranking(kb_ids, vector, pool, filters), []
            fused = rrf([[i for i, _ in by_vector], [i for i, _ in by_text]])
            scored = fused[:top_k]
        else:
            raise StoreError(f"Unknown search mode {mode!r}.")
        if min_score is not None:
            scored = [(i, s) for i, s in scored if s >= min_score]
        return await self._hits(scored[:top_k], kb_ids) if scored else []
