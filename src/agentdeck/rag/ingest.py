"""Ingestion pipeline: bytes → sections → chunks → vectors → store, skipping unchanged files.

A document's version is the SHA-256 of its bytes and chunking options, so re-ingesting the
same file does no embedding work at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from agentdeck.rag.chunking import ChunkOptions, chunk_document, embedding_text
from agentdeck.rag.embeddings import Embedder
from agentdeck.rag.errors import StoreError
from agentdeck.rag.loaders import LoadLimits, load_document
from agentdeck.rag.stores.base import VectorStore
from agentdeck.rag.types import Chunk, DocumentInfo, EmbeddedChunk, Metadata


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What ingesting one document did. `skipped` means the same version was already stored."""

    doc_id: str
    version: str
    chunks: int
    skipped: bool


@dataclass(frozen=True, slots=True)
class SourceDocument:
    """One file to ingest with `ingest_documents`."""

    doc_id: str
    data: bytes
    filename: str | None = None
    content_type: str | None = None
    title: str = ""
    metadata: Metadata = field(default_factory=dict)


def content_version(data: bytes, options: ChunkOptions, embedder_name: str) -> str:
    """Version of a document: hash of its bytes, the chunking options and the model."""
    digest = hashlib.sha256(data)
    digest.update(f"|{options.strategy}|{options.max_tokens}|{options.overlap}|".encode())
    digest.update(embedder_name.encode())
    return digest.hexdigest()


async def ingest_document(
    store: VectorStore,
    embedder: Embedder,
    kb_id: str,
    doc_id: str,
    data: bytes,
    *,
    filename: str | None = None,
    content_type: str | None = None,
    title: str = "",
    metadata: Metadata | None = None,
    options: ChunkOptions | None = None,
    limits: LoadLimits | None = None,
    batch_size: int = 64,
) -> IngestResult:
    """Load, chunk, embed and store one document (replacing an older version of it).

    Raises `LoadError` for unreadable input, `EmbeddingError` if the model fails and
    `StoreError` if the embedder's dimension differs from the store's.
    """
    if embedder.dim != store.dim:
        raise StoreError(
            f"The embedder makes {embedder.dim}-dim vectors; the store holds {store.dim}."
        )
    options = options or ChunkOptions()
    version = content_version(data, options, embedder.name)
    if await store.document_version(kb_id, doc_id) == version:
        return IngestResult(doc_id, version, 0, skipped=True)
    sections = await load_document(
        data, filename=filename, content_type=content_type, limits=limits
    )
    chunks = await chunk_document(sections, options)
    vectors: list[list[float]] = []
    for begin in range(0, len(chunks), batch_size):
        batch = chunks[begin : begin + batch_size]
        vectors.extend(await embedder.embed([embedding_text(c) for c in batch]))
    info = DocumentInfo(doc_id, version, title=title or filename or doc_id, metadata=metadata or {})
    embedded = [EmbeddedChunk(c, v) for c, v in zip(chunks, vectors, strict=True)]
    stored = await store.upsert(kb_id, info, embedded)
    return IngestResult(doc_id, version, len(chunks), skipped=not stored)


async def ingest_documents(
    store: VectorStore,
    embedder: Embedder,
    kb_id: str,
    documents: Sequence[SourceDocument],
    *,
    options: ChunkOptions | None = None,
    limits: LoadLimits | None = None,
    batch_size: int = 64,
) -> list[IngestResult]:
    """`ingest_document` for many files, embedding chunks of several documents per batch.

    Small documents would otherwise each cost a model call of a few chunks; full batches keep
    ingestion close to the model's raw throughput. Raises like `ingest_document`; documents
    stored before an error stay stored.
    """
    if embedder.dim != store.dim:
        raise StoreError(
            f"The embedder makes {embedder.dim}-dim vectors; the store holds {store.dim}."
        )
    options = options or ChunkOptions()
    results: list[IngestResult] = []
    pending: list[tuple[SourceDocument, str, list[Chunk]]] = []
    queued = 0

    async def flush() -> None:
        texts = [embedding_text(c) for _, _, chunks in pending for c in chunks]
        vectors = await embedder.embed(texts)
        cursor = 0
        for source, version, chunks in pending:
            embedded = [EmbeddedChunk(c, v) for c, v in zip(chunks, vectors[cursor:], strict=False)]
            cursor += len(chunks)
            info = DocumentInfo(source.doc_id, version, source.title or source.filename or
                                source.doc_id, source.metadata)  # fmt: skip
            stored = await store.upsert(kb_id, info, embedded)
            results.append(IngestResult(source.doc_id, version, len(chunks), skipped=not stored))
        pending.clear()

    for source in documents:
        version = content_version(source.data, options, embedder.name)
        if await store.document_version(kb_id, source.doc_id) == version:
            results.append(IngestResult(source.doc_id, version, 0, skipped=True))
            continue
        sections = await load_document(
            source.data, filename=source.filename, content_type=source.content_type, limits=limits
        )
        chunks = await chunk_document(sections, options)
        pending.append((source, version, chunks))
        queued += len(chunks)
        if queued >= batch_size:
            await flush()
            queued = 0
    if pending:
        await flush()
    return results
