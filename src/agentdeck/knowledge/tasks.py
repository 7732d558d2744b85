"""The `knowledge.ingest` job: parse, chunk, embed and store one version of one document.

Idempotent per document version: the job of an older version does nothing, and the vector
store's upsert replaces a document's chunks as a whole (a second run of the same version is a
no-op), so a job interrupted by a crash and re-run by another worker never duplicates chunks.
Parsing and embedding run in threads (the loaders and embedders do that), never on the loop.
Every way a document can be bad ends as ``failed`` with a reason on that document only. An
embedding model that could not load this time (`EmbedderUnavailable`) is not the document's
fault: the document goes back to ``queued`` and the job raises `RetryLater`, so the job queue
runs it again with backoff; only its last attempt marks the document failed.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from agentdeck.kit.db import transaction, utcnow
from agentdeck.knowledge import repository as repo
from agentdeck.knowledge.registry import KnowledgeRegistry, registry_for
from agentdeck.knowledge.service import INGEST, enqueue_ingest, requeue
from agentdeck.llm.errors import LLMError
from agentdeck.models import KnowledgeBase, KnowledgeDocument
from agentdeck.rag import (
    Chunk,
    ChunkOptions,
    DocumentInfo,
    EmbeddedChunk,
    Embedder,
    EmbeddingError,
    LoadError,
    LoadLimits,
    StoreError,
    chunk_document,
    load_document,
)
from agentdeck.rag.chunking import embedding_text
from agentdeck.rag.embeddings import EmbedderUnavailable
from agentdeck.rag.ingest import content_version
from agentdeck.worker.loop import JobContext

log = structlog.get_logger(__name__)

__all__ = ["INGEST", "ingest"]


class _Failed(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class RetryLater(Exception):
    """The embedding model is not ready yet: the job queue runs this job again later."""


class _Superseded(Exception):
    """The document was deleted or got a newer version while we worked."""


@dataclass
class _Job:
    registry: KnowledgeRegistry
    ctx: JobContext
    doc: KnowledgeDocument
    kb: KnowledgeBase
    data: bytes
    embedder: Embedder
    force: bool

    @property
    def version(self) -> int:
        return self.doc.version

    async def update(self, **values: Any) -> None:
        async with transaction(self.ctx.sessionmaker) as session:
            if not await repo.set_document(session, self.doc.id, self.version, **values):
                raise _Superseded


async def ingest(ctx: JobContext) -> None:
    """Handler of `knowledge.ingest` (payload ``{"document_id", "version", "force"}``)."""
    payload = ctx.job.payload
    doc_id = uuid.UUID(str(payload["document_id"]))
    version = int(payload.get("version", 1))
    registry = registry_for(ctx.sessionmaker)
    try:
        job = await _prepare(ctx, registry, doc_id, version, bool(payload.get("force")))
    except _Failed as failed:
        await _fail(ctx, doc_id, version, failed.reason, failed.detail)
        return
    if job is None:
        return
    try:
        await _run(job)
    except _Superseded:
        log.info("knowledge.ingest_superseded", document_id=str(doc_id), version=version)
        await _cleanup_if_deleted(job)
    except _Failed as failed:
        await _fail(ctx, doc_id, version, failed.reason, failed.detail)
    except LoadError as exc:
        await _fail(ctx, doc_id, version, exc.reason, exc.detail)
    except EmbedderUnavailable as exc:
        detail = f"The embedding model {job.kb.embedding_model!r} failed: {exc}"
        if ctx.job.attempts < ctx.job.max_attempts:
            await _wait(job, detail)
            raise RetryLater(detail) from exc
        await _fail(ctx, doc_id, version, "embedding_error", detail)
    except (EmbeddingError, LLMError) as exc:
        detail = f"The embedding model {job.kb.embedding_model!r} failed: {exc}"
        await _fail(ctx, doc_id, version, "embedding_error", detail)
    except StoreError as exc:
        await _fail(ctx, doc_id, version, "store_error", f"The vector store failed: {exc}")
    except Exception as exc:
        log.exception("knowledge.ingest_crashed", document_id=str(doc_id))
        await _fail(
            ctx,
            doc_id,
            version,
            "internal",
            f"Ingestion failed unexpectedly ({type(exc).__name__}).",
        )


async def _prepare(
    ctx: JobContext, registry: KnowledgeRegistry, doc_id: uuid.UUID, version: int, force: bool
) -> _Job | None:
    async with transaction(ctx.sessionmaker) as session:
        doc = await repo.document_by_id(session, doc_id)
        if doc is None or doc.version != version or doc.status == "ready":
            return None  # deleted, superseded, or already done by an earlier run
        kb = await repo.kb_by_id(session, doc.kb_id)
        data = await repo.content_of(session, doc_id)
        if kb is None or data is None:
            return None
        await repo.set_document(
            session, doc_id, version, status="processing", error=None, error_reason=None,
            percent=0, chunks_done=0,
        )  # fmt: skip
        try:
            embedder = await registry.embedder(
                session,
                kb.embedding_model,
                org_id=kb.org_id,
                space_id=kb.space_id,
                user_id=doc.created_by or kb.created_by,
                dim=kb.embedding_dim,
            )
        except (EmbeddingError, LLMError) as exc:
            detail = f"The embedding model {kb.embedding_model!r} is unavailable: {exc}"
            raise _Failed("embedding_error", detail) from exc
    return _Job(registry, ctx, doc, kb, data, embedder, force)


def _options(kb: KnowledgeBase) -> ChunkOptions:
    return ChunkOptions(
        max_tokens=kb.chunk_size,
        overlap=kb.chunk_overlap,
        strategy=kb.chunk_strategy,  # type: ignore[arg-type]
    )


def _store_metadata(doc: KnowledgeDocument) -> dict[str, str | int | float | bool]:
    values: dict[str, str | int | float | bool] = {
        k: v for k, v in (doc.metadata_ or {}).items() if isinstance(v, str | int | float | bool)
    }
    values["format"] = doc.format
    if doc.source_url:
        values["source_url"] = doc.source_url
    return values


async def _chunks(job: _Job, options: ChunkOptions) -> list[Chunk]:
    settings = job.registry.settings
    limits = LoadLimits(max_bytes=max(settings.max_upload_bytes, len(job.data)))
    sections = await load_document(
        job.data, filename=job.doc.filename, content_type=job.doc.mime_type, limits=limits
    )
    chunks = await chunk_document(sections, options)
    if not chunks:
        raise _Failed("no_text", "The document contains no text to index.")
    if len(chunks) > settings.max_chunks:
        raise _Failed(
            "too_large",
            f"The document makes {len(chunks):,} chunks; the limit is {settings.max_chunks:,}.",
        )
    return chunks


async def _embed(job: _Job, chunks: Sequence[Chunk]) -> list[list[float]]:
    batch = job.registry.settings.embed_batch
    vectors: list[list[float]] = []
    total = len(chunks)
    for begin in range(0, total, batch):
        part = chunks[begin : begin + batch]
        vectors.extend(await job.embedder.embed([embedding_text(c) for c in part]))
        done = len(vectors)
        await job.update(chunks_done=done, percent=min(99, 5 + done * 94 // total))
    return vectors


async def _run(job: _Job) -> None:
    options = _options(job.kb)
    store_version = content_version(job.data, options, job.embedder.name)
    kb_key, doc_key = str(job.kb.id), str(job.doc.id)
    chunks = await _chunks(job, options)
    await job.update(chunks_total=len(chunks), chunks_done=0, percent=5)
    dim = job.embedder.dim
    if dim and not job.force:
        store = await job.registry.store(dim)
        if await store.document_version(kb_key, doc_key) == store_version:
            await _finish(job, dim, store_version, len(chunks))
            return
    vectors = await _embed(job, chunks)
    dim = len(vectors[0])
    if job.kb.embedding_dim is None:
        async with transaction(job.ctx.sessionmaker) as session:
            await repo.set_kb_dim(session, job.kb.id, dim)
    store = await job.registry.store(dim)
    if job.force:
        await store.delete_document(kb_key, doc_key)
    info = DocumentInfo(doc_key, store_version, job.doc.title, _store_metadata(job.doc))
    embedded = [EmbeddedChunk(c, v) for c, v in zip(chunks, vectors, strict=True)]
    await job.update(percent=99)  # still the current version? (else _Superseded)
    await store.upsert(kb_key, info, embedded)
    if job.doc.indexed_dim and job.doc.indexed_dim != dim:
        old = await job.registry.store(job.doc.indexed_dim)
        await old.delete_document(kb_key, doc_key)
    await _finish(job, dim, store_version, len(chunks))


async def _finish(job: _Job, dim: int, store_version: str, total: int) -> None:
    await job.update(
        status="ready", percent=100, chunks_done=total, chunks_total=total, indexed_dim=dim,
        indexed_version=store_version, indexed_at=utcnow(), error=None, error_reason=None,
    )  # fmt: skip
    log.info("knowledge.ingested", document_id=str(job.doc.id), chunks=total, dim=dim)


async def _cleanup_if_deleted(job: _Job) -> None:
    """After a run lost its version: drop what it stored for a deleted document, and if it
    overwrote the chunks of the newer version (a slow old run upserting last), index the
    document again."""
    kb_key, doc_key = str(job.kb.id), str(job.doc.id)
    async with transaction(job.ctx.sessionmaker) as session:
        current = await repo.document_by_id(session, job.doc.id)
        if current is None:
            pass
        elif current.status == "ready" and current.indexed_dim:
            store = await job.registry.store(current.indexed_dim)
            if await store.document_version(kb_key, doc_key) != current.indexed_version:
                log.warning("knowledge.ingest_overwritten", document_id=doc_key)
                requeue(current)
                await enqueue_ingest(session, current, force=True)
    if current is None and job.embedder.dim:
        store = await job.registry.store(job.embedder.dim)
        await store.delete_document(kb_key, doc_key)


async def _wait(job: _Job, detail: str) -> None:
    """Put the document back in the queue (its job runs again) and say why in the log."""
    log.warning(
        "knowledge.ingest_retry", document_id=str(job.doc.id), attempt=job.ctx.job.attempts,
        detail=detail[:300],
    )  # fmt: skip
    # Deleted or re-versioned meanwhile: its retry will find nothing to do.
    with contextlib.suppress(_Superseded):
        await job.update(status="queued", percent=0, chunks_done=0)


async def _fail(ctx: JobContext, doc_id: uuid.UUID, version: int, reason: str, detail: str) -> None:
    log.info("knowledge.ingest_failed", document_id=str(doc_id), reason=reason)
    async with transaction(ctx.sessionmaker) as session:
        await repo.set_document(
            session, doc_id, version, status="failed", error=detail[:2000],
            error_reason=reason[:32], percent=0,
        )  # fmt: skip
