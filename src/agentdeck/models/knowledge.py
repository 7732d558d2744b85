"""Knowledge bases, their documents and the original bytes of each document.

Chunks and vectors do not live here: they are in the vector store (sqlite-vec or pgvector),
keyed by knowledge base and document id. The original bytes are kept so a document can be
re-indexed (new chunking or embedding model) without being uploaded again.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from agentdeck.kit.tenancy import SpaceOwned
from agentdeck.models.base import Base, JSONType, SpaceColumn


class KnowledgeBase(SpaceColumn, SpaceOwned, Base):
    """A searchable collection of documents with one embedding model and chunking setup."""

    __tablename__ = "knowledge_bases"
    __table_args__ = (UniqueConstraint("space_id", "name"),)

    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text, default=None)
    # "local" (MiniLM), "local-static" (model2vec) or a gateway model ("openai/text-embed...").
    embedding_model: Mapped[str] = mapped_column(String(200), default="local")
    # Known for local models; learnt from the first provider response otherwise.
    embedding_dim: Mapped[int | None] = mapped_column(default=None)
    chunk_size: Mapped[int] = mapped_column(default=200)
    chunk_overlap: Mapped[int] = mapped_column(default=40)
    chunk_strategy: Mapped[str] = mapped_column(String(16), default="structure")
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid(), default=None)


class KnowledgeDocument(SpaceColumn, SpaceOwned, Base):
    """One document of a knowledge base and the state of its ingestion.

    ``version`` counts content and re-index changes; the ingestion job of an older version
    does nothing. ``indexed_dim`` names the vector store (one per dimension) holding its
    chunks, so they can be removed when the embedding model changes.
    """

    __tablename__ = "knowledge_documents"
    __table_args__ = (
        Index("ix_knowledge_documents_kb_hash", "kb_id", "content_hash"),
        Index("ix_knowledge_documents_kb_source_url", "kb_id", "source_url"),
    )

    kb_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("knowledge_bases.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(500))
    filename: Mapped[str] = mapped_column(String(500))
    mime_type: Mapped[str | None] = mapped_column(String(200), default=None)
    format: Mapped[str] = mapped_column(String(16))
    size_bytes: Mapped[int] = mapped_column(default=0)
    content_hash: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    error: Mapped[str | None] = mapped_column(Text, default=None)
    error_reason: Mapped[str | None] = mapped_column(String(32), default=None)
    chunks_done: Mapped[int] = mapped_column(default=0)
    chunks_total: Mapped[int] = mapped_column(default=0)
    percent: Mapped[int] = mapped_column(default=0)
    indexed_dim: Mapped[int | None] = mapped_column(default=None)
    indexed_version: Mapped[str | None] = mapped_column(String(64), default=None)
    indexed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    # Set by website crawling (no foreign key: sources are optional and owned elsewhere).
    source_id: Mapped[uuid.UUID | None] = mapped_column(Uuid(), default=None, index=True)
    source_url: Mapped[str | None] = mapped_column(Text, default=None)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid(), default=None)


class KnowledgeDocumentContent(SpaceColumn, SpaceOwned, Base):
    """The original bytes of a document (one row per document, replaced on a new version)."""

    __tablename__ = "knowledge_document_contents"

    document_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("knowledge_documents.id", ondelete="CASCADE"), unique=True
    )
    data: Mapped[bytes] = mapped_column(LargeBinary)
