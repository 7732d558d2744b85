"""Searching knowledge bases: embed the query with each base's model, ask its vector store.

Knowledge bases that share an embedding model are searched in one store query (the fusion
then ranks them together); bases with different models are searched apart and merged by
score.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from agentdeck.errors import AppError, InvalidInput
from agentdeck.knowledge.registry import LOCAL_DIMS, registry_for
from agentdeck.knowledge.schemas import SearchItem
from agentdeck.llm.errors import LLMError
from agentdeck.models import KnowledgeBase
from agentdeck.rag import Embedder
from agentdeck.rag.errors import EmbeddingError, StoreError
from agentdeck.rag.stores.base import check_filters
from agentdeck.rag.types import SearchHit, SearchMode
from agentdeck.runtime import Runtime

log = structlog.get_logger(__name__)

__all__ = ["EmbeddingUnavailable", "SearchMode", "search_kbs"]


class EmbeddingUnavailable(AppError):
    """The embedding model or the vector store cannot answer now (503)."""

    status, type, title = 503, "embedding-unavailable", "Knowledge search unavailable"


def _item(hit: SearchHit) -> SearchItem | None:
    try:
        document_id, kb_id = uuid.UUID(hit.document_id), uuid.UUID(hit.kb_id)
    except ValueError:
        return None
    source_url = hit.metadata.get("source_url")
    return SearchItem(
        text=hit.text,
        score=hit.score,
        document_id=document_id,
        document_title=hit.title,
        kb_id=kb_id,
        page=hit.page,
        heading=hit.heading_path[-1] if hit.heading_path else None,
        heading_path=list(hit.heading_path),
        start=hit.start,
        end=hit.end,
        source_url=source_url if isinstance(source_url, str) else None,
        metadata=dict(hit.metadata),
    )


async def _embedder_of(
    runtime: Runtime, session: AsyncSession, kb: KnowledgeBase, user_id: uuid.UUID | None
) -> Embedder:
    return await registry_for(runtime).embedder(
        session,
        kb.embedding_model,
        org_id=kb.org_id,
        space_id=kb.space_id,
        user_id=user_id or kb.created_by,
        dim=kb.embedding_dim,
    )


async def _search_group(
    runtime: Runtime,
    kbs: Sequence[KnowledgeBase],
    embedder: Embedder | None,
    *,
    query: str,
    top_k: int,
    mode: SearchMode,
    filters: Mapping[str, Any] | None,
    min_score: float | None,
) -> list[SearchHit]:
    vector: list[float] | None = None
    dim = kbs[0].embedding_dim
    if embedder is not None:
        if mode == "fulltext":
            dim = embedder.dim
        else:
            (vector,) = await embedder.embed([query])
            dim = len(vector)
    if not dim:
        return []  # a provider model that has embedded nothing yet
    store = await registry_for(runtime).store(dim)
    return await store.search(
        [str(kb.id) for kb in kbs],
        vector,
        query,
        top_k=top_k,
        mode=mode,
        filters=filters,
        min_score=min_score,
    )


async def search_kbs(
    runtime: Runtime,
    session: AsyncSession,
    kbs: Sequence[KnowledgeBase],
    *,
    query: str,
    top_k: int = 5,
    mode: SearchMode = "hybrid",
    filters: Mapping[str, Any] | None = None,
    min_score: float | None = None,
    user_id: uuid.UUID | None = None,
    release: bool = True,
) -> list[SearchItem]:
    """The ``top_k`` best passages of ``kbs`` (already authorised), best first.

    With ``release`` the session's transaction is committed once the lookups are done (when
    it holds no pending ORM changes), so embedding the query holds no database lock.

    Raises :class:`InvalidInput` (field ``filters``) for a bad filter and
    :class:`EmbeddingUnavailable` (503) when the embedding model or the store fails.
    """
    if mode not in ("vector", "fulltext", "hybrid"):
        raise InvalidInput(f"unknown search mode {mode!r}", field="mode")
    try:
        check_filters(filters)
    except StoreError as exc:
        raise InvalidInput(exc.detail, field="filters") from exc
    if not kbs or not query.strip():
        return []
    groups: dict[str, list[KnowledgeBase]] = {}
    for kb in kbs:
        groups.setdefault(kb.embedding_model, []).append(kb)
    prepared: list[tuple[list[KnowledgeBase], Embedder | None]] = []
    for group in groups.values():
        first = group[0]
        embedder = None
        if mode != "fulltext" or first.embedding_model in LOCAL_DIMS:
            try:
                embedder = await _embedder_of(runtime, session, first, user_id)
            except EmbeddingError as exc:
                raise EmbeddingUnavailable(str(exc), field="query") from exc
        prepared.append((group, embedder))
    if release and not (session.new or session.dirty or session.deleted):
        await session.commit()  # the lookups are done: hold no database lock while embedding
    hits: list[SearchHit] = []
    for group, embedder in prepared:
        try:
            found = await _search_group(
                runtime, group, embedder, query=query, top_k=top_k, mode=mode,
                filters=filters, min_score=min_score,
            )  # fmt: skip
        except (EmbeddingError, StoreError) as exc:
            log.warning("knowledge.search_failed", error=type(exc).__name__, detail=str(exc))
            raise EmbeddingUnavailable(
                f"searching {group[0].name!r} failed: {exc}", field="query"
            ) from exc
        except (AppError, LLMError):
            raise
        except Exception as exc:  # a store's database went away, ...: unavailable, not a 500
            log.exception("knowledge.search_crashed", kb_id=str(group[0].id))
            raise EmbeddingUnavailable(
                f"searching {group[0].name!r} failed ({type(exc).__name__}); try again later"
            ) from exc
        hits.extend(found)
    if len(groups) > 1:
        hits.sort(key=lambda h: -h.score)
    items = [item for hit in hits[:top_k] if (item := _item(hit)) is not None]
    return items
