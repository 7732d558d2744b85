"""Website sources of knowledge bases, their crawl runs and the last content hash per page.

A source is a start URL plus crawl limits and a schedule. Each crawl is a `CrawlRun` row
(queued, running, completed, failed) with page counts and per-page errors; at most one run
per source is queued or running (a partial unique index makes that hold across workers).
`KnowledgeSourcePage` remembers the hash of each page's extracted text, so a re-crawl
sends only changed pages to ingestion.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from agentdeck.kit.tenancy import SpaceOwned
from agentdeck.models.base import Base, JSONType, SpaceColumn

ACTIVE_CRAWL = "status IN ('queued', 'running')"


class KnowledgeSource(SpaceColumn, SpaceOwned, Base):
    """A website crawled into a knowledge base, by hand or on a schedule."""

    __tablename__ = "knowledge_sources"

    kb_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("knowledge_bases.id", ondelete="CASCADE"), index=True
    )
    start_url: Mapped[str] = mapped_column(Text)
    max_pages: Mapped[int] = mapped_column(default=50)
    max_depth: Mapped[int] = mapped_column(default=3)
    include_patterns: Mapped[list[str]] = mapped_column(JSONType, default=list)
    exclude_patterns: Mapped[list[str]] = mapped_column(JSONType, default=list)
    delay_s: Mapped[float] = mapped_column(default=1.0)
    schedule: Mapped[str] = mapped_column(String(8), default="never")
    next_crawl_at: Mapped[dt.datetime | None] = mapped_column(default=None, index=True)
    last_crawl_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid(), default=None)


class CrawlRun(SpaceColumn, SpaceOwned, Base):
    """One crawl of a source and what it found."""

    __tablename__ = "crawl_runs"
    __table_args__ = (
        Index(
            "uq_crawl_runs_active_source",
            "source_id",
            unique=True,
            sqlite_where=text(ACTIVE_CRAWL),
            postgresql_where=text(ACTIVE_CRAWL),
        ),
    )

    source_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("knowledge_sources.id", ondelete="CASCADE"), index=True
    )
    kb_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    trigger: Mapped[str] = mapped_column(String(16), default="manual")
    status: Mapped[str] = mapped_column(String(16), default="queued")
    pages_fetched: Mapped[int] = mapped_column(default=0)
    pages_changed: Mapped[int] = mapped_column(default=0)
    pages_unchanged: Mapped[int] = mapped_column(default=0)
    pages_failed: Mapped[int] = mapped_column(default=0)
    pages_skipped: Mapped[int] = mapped_column(default=0)
    # [{"url": ..., "error": ...}] for pages that failed (capped); `error` is why a run failed.
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    started_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    finished_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid(), default=None)


class KnowledgeSourcePage(SpaceColumn, SpaceOwned, Base):
    """The hash of a page's extracted text at its last crawl, and the document it became."""

    __tablename__ = "knowledge_source_pages"
    __table_args__ = (UniqueConstraint("source_id", "url"),)

    source_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("knowledge_sources.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    document_id: Mapped[uuid.UUID | None] = mapped_column(Uuid(), default=None)
