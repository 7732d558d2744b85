"""Process-wide knowledge objects: vector stores (one per dimension) and embedding models.

One registry per database engine, found from the Runtime (API) or from a job's sessionmaker
(worker), like the run services. Nothing heavy happens when it is made: the local model loads
on the first embedding (in the worker, or on the first search), stores open on first use.

Tests replace ``embedder_factory`` (the seam) to embed with `HashingEmbedder`.
"""

from __future__ import annotations

import asyncio
import uuid
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import structlog
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from agentdeck.config import get_settings
from agentdeck.kit.db import sync_engine_of
from agentdeck.knowledge.settings import KnowledgeSettings
from agentdeck.rag import Embedder, EmbeddingError, LocalMiniLM, Model2VecStatic, VectorStore
from agentdeck.rag.distill import STATIC_DIMS
from agentdeck.runtime import Runtime

log = structlog.get_logger(__name__)

LOCAL = "local"
LOCAL_STATIC = "local-static"
LOCAL_DIMS = {LOCAL: LocalMiniLM.dim, LOCAL_STATIC: STATIC_DIMS}

EmbedderFactory = Callable[[str], Embedder | None]


def _normalised(vectors: Sequence[Sequence[float]]) -> list[list[float]]:
    array = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    result: list[list[float]] = (array / norms).tolist()
    return result


def local_dim(model: str) -> int | None:
    """The dimension of a local model, None for a provider model (learnt on first use)."""
    return LOCAL_DIMS.get(model)


class GatewayEmbedder:
    """A provider's embedding model through the org's LLM gateway (usage rows, budgets)."""

    def __init__(self, llm: Any, model: str, dim: int | None) -> None:
        self.llm = llm
        self.model = model
        self.name = f"gateway:{model}"
        self.dim = dim or 0

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed through the gateway; LLM errors pass through (the API maps them)."""
        if not texts:
            return []
        vectors = await self.llm.embed(self.model, list(texts))
        if len(vectors) != len(texts) or not vectors[0]:
            raise EmbeddingError(f"{self.model} returned {len(vectors)} vectors for {len(texts)}")
        self.dim = len(vectors[0])
        return _normalised(vectors)


@dataclass
class KnowledgeRegistry:
    settings: KnowledgeSettings
    db_url: str
    data_dir: Path
    runtime: Runtime | None = None
    embedder_factory: EmbedderFactory | None = None
    """Test seam: model name -> embedder (None: the normal one)."""
    wakers: list[Callable[[], None]] = field(default_factory=list)
    _embedders: dict[str, Embedder] = field(default_factory=dict)
    _stores: dict[int, VectorStore] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _pg_unavailable: set[str] = field(default_factory=set)

    def local_embedder(self, model: str) -> Embedder:
        """The shared instance of a local model (or the test seam's embedder)."""
        if self.embedder_factory is not None:
            custom = self.embedder_factory(model)
            if custom is not None:
                return custom
        found = self._embedders.get(model)
        if found is None:
            if model == LOCAL:
                found = LocalMiniLM()
            elif model == LOCAL_STATIC:
                found = Model2VecStatic()
            else:
                raise EmbeddingError(f"{model!r} is not a local embedding model")
            self._embedders[model] = found
        return found

    async def embedder(
        self,
        session: AsyncSession,
        model: str,
        *,
        org_id: uuid.UUID,
        space_id: uuid.UUID,
        user_id: uuid.UUID | None,
        dim: int | None,
    ) -> Embedder:
        """The embedder of a knowledge base: a local model, or the org's gateway model."""
        if self.embedder_factory is not None:
            custom = self.embedder_factory(model)
            if custom is not None:
                return custom
        if model in LOCAL_DIMS:
            return self.local_embedder(model)
        if self.runtime is None or user_id is None:
            raise EmbeddingError(f"the provider model {model!r} cannot be used here")
        from agentdeck.auth.principal import scope_for_background_work
        from agentdeck.gateway.service import call_context, org_llm

        scope = scope_for_background_work(org_id=org_id, space_id=space_id, user_id=user_id)
        ctx = call_context(scope, space_id=space_id)
        llm = await org_llm(self.runtime, session, ctx, scope)
        return GatewayEmbedder(llm, model, dim)

    def _sqlite_path(self) -> Path:
        if self.settings.store_dir is not None:
            directory = self.settings.store_dir
            name = "knowledge-vectors.db"
        else:
            url = make_url(self.db_url)
            database = url.database if url.get_backend_name() == "sqlite" else None
            if database and database != ":memory:":
                main = Path(database)
                directory, name = main.parent, f"{main.stem}-vectors.db"
            else:
                directory, name = self.data_dir, "knowledge-vectors.db"
        directory.mkdir(parents=True, exist_ok=True)
        return directory / name

    async def _open(self, dim: int) -> VectorStore:
        prefix = f"kb{dim}_"
        url = self.settings.vector_url or self.db_url
        if url.startswith("postgresql") and url not in self._pg_unavailable:
            from agentdeck.rag.stores.pgvector import PgVectorStore

            pg = PgVectorStore(url, dim, prefix=prefix)
            try:
                await pg.ensure_schema()
                return pg
            except Exception as exc:
                self._pg_unavailable.add(url)
                await pg.close()
                log.warning(
                    "knowledge.pgvector_unavailable",
                    error=type(exc).__name__,
                    detail=str(exc)[:300],
                    fallback="sqlite-vec",
                )
        from agentdeck.rag.stores.sqlite_vec import SqliteVecStore

        store = SqliteVecStore(self._sqlite_path(), dim, prefix=prefix)
        await store.ensure_schema()
        return store

    async def store(self, dim: int) -> VectorStore:
        """The vector store of ``dim``-dimensional vectors (opened on first use)."""
        async with self._lock:
            found = self._stores.get(dim)
            if found is None:
                found = self._stores[dim] = await self._open(dim)
            return found

    def wake_workers(self) -> None:
        for wake in list(self.wakers):
            wake()

    async def aclose(self) -> None:
        """Close every store (they reopen on next use)."""
        async with self._lock:
            stores, self._stores = list(self._stores.values()), {}
        for store in stores:
            await store.close()


_REGISTRY: weakref.WeakKeyDictionary[Engine, KnowledgeRegistry] = weakref.WeakKeyDictionary()


def _engine_of(source: Any) -> Engine:
    return sync_engine_of(source.engine if isinstance(source, Runtime) else source)


def attach(runtime: Runtime, *, wake: Callable[[], None] | None = None) -> KnowledgeRegistry:
    """The registry of the runtime's database, made from its settings; adds a worker's wake."""
    engine = _engine_of(runtime)
    registry = _REGISTRY.get(engine)
    if registry is None:
        settings = runtime.settings
        registry = _REGISTRY[engine] = KnowledgeRegistry(
            settings=KnowledgeSettings(),
            db_url=settings.resolved_db_url,
            data_dir=settings.data_dir,
        )
    registry.runtime = registry.runtime or runtime
    if wake is not None and wake not in registry.wakers:
        registry.wakers.append(wake)
    return registry


def registry_for(
    source: Runtime | async_sessionmaker[AsyncSession] | AsyncSession | AsyncEngine,
) -> KnowledgeRegistry:
    """The registry of the database behind ``source`` (made on first use)."""
    if isinstance(source, Runtime):
        return attach(source)
    engine = _engine_of(source)
    registry = _REGISTRY.get(engine)
    if registry is None:
        settings = get_settings()
        registry = _REGISTRY[engine] = KnowledgeRegistry(
            settings=KnowledgeSettings(),
            db_url=engine.url.render_as_string(hide_password=False),
            data_dir=settings.data_dir,
        )
    return registry
