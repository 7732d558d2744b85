"""Knowledge shapes: knowledge bases, documents and search."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from agentdeck.rag.types import SearchMode

DocumentStatus = Literal["queued", "processing", "ready", "failed"]
Scalar = str | int | float | bool

_SPACE = "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e10"
_KB = "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e41"
_DOC = "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e51"
_CHUNKING: dict[str, Any] = {"size": 200, "overlap": 40, "strategy": "structure"}
_KB_EXAMPLE: dict[str, Any] = {
    "id": _KB,
    "space_id": _SPACE,
    "name": "handbook",
    "description": "Staff handbook and policies.",
    "embedding_model": "local",
    "embedding_dim": 384,
    "chunking": _CHUNKING,
    "created_by": "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e01",
    "created_at": "2026-11-21T10:00:00Z",
    "updated_at": "2026-11-21T10:00:00Z",
}
_DOC_EXAMPLE: dict[str, Any] = {
    "id": _DOC,
    "kb_id": _KB,
    "space_id": _SPACE,
    "title": "Employee handbook",
    "filename": "handbook.pdf",
    "mime_type": "application/pdf",
    "format": "pdf",
    "size_bytes": 48213,
    "content_hash": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "version": 1,
    "status": "ready",
    "error": None,
    "error_reason": None,
    "percent": 100,
    "chunks_done": 42,
    "chunks_total": 42,
    "source_url": None,
    "source_id": None,
    "metadata": {"team": "hr"},
    "indexed_at": "2026-11-21T10:00:05Z",
    "created_at": "2026-11-21T10:00:00Z",
    "updated_at": "2026-11-21T10:00:05Z",
}
_ITEM_EXAMPLE: dict[str, Any] = {
    "text": "Fire exits are marked in green.",
    "score": 0.0325,
    "document_id": _DOC,
    "document_title": "Employee handbook",
    "kb_id": _KB,
    "page": 3,
    "heading": "Safety",
    "heading_path": ["Employee Handbook", "Safety"],
    "start": 1204,
    "end": 1236,
    "source_url": None,
    "metadata": {"team": "hr"},
}


class Chunking(BaseModel):
    """Chunk size and overlap in tokens; `structure` follows headings, `fixed` ignores them."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": _CHUNKING})

    size: int = Field(200, ge=8, le=2000, description="Tokens per chunk.")
    overlap: int = Field(40, ge=0, le=1000, description="Tokens shared by neighbouring chunks.")
    strategy: Literal["fixed", "structure"] = "structure"

    @model_validator(mode="after")
    def _overlap_fits(self) -> Chunking:
        if self.overlap > self.size // 2:
            raise ValueError("overlap must be at most half of size")
        return self


_MODEL_DOC = (
    "`local` (all-MiniLM-L6-v2, 384 dimensions, the default), `local-static` (its fast "
    "model2vec distil) or a provider's embedding model through the gateway, e.g. "
    "`openai/text-embedding-3-small` (usage is recorded)."
)


class KnowledgeBaseCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "name": "handbook",
                "space_id": _SPACE,
                "description": "Staff handbook and policies.",
                "embedding_model": "local",
                "chunking": _CHUNKING,
            }
        },
    )

    name: str = Field(min_length=1, max_length=100)
    space_id: uuid.UUID
    description: str | None = Field(default=None, max_length=2000)
    embedding_model: str = Field("local", min_length=1, max_length=200, description=_MODEL_DOC)
    chunking: Chunking | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("name must not be blank")
        return value


class KnowledgeBaseUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"description": "Policies", "embedding_model": "local"}},
    )

    name: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=2000)
    embedding_model: str | None = Field(
        default=None, min_length=1, max_length=200, description=_MODEL_DOC
    )
    chunking: Chunking | None = None


class KnowledgeBaseOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": _KB_EXAMPLE})

    id: uuid.UUID
    space_id: uuid.UUID
    name: str
    description: str | None
    embedding_model: str
    embedding_dim: int | None
    chunking: Chunking
    created_by: uuid.UUID | None
    created_at: dt.datetime
    updated_at: dt.datetime


class KnowledgeBasePage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"example": {"items": [_KB_EXAMPLE], "next_cursor": None}}
    )

    items: list[KnowledgeBaseOut]
    next_cursor: str | None


class DocumentJson(BaseModel):
    """A document given as text (``title`` + ``text``) or as one web page (``url``)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {"title": "Opening hours", "text": "We open at 9 and close at 17."}
        },
    )

    title: str | None = Field(default=None, max_length=500)
    text: str | None = Field(default=None, max_length=10_000_000)
    url: str | None = Field(default=None, max_length=2000)
    metadata: dict[str, Scalar] | None = Field(
        default=None, description="Scalar values, matched by search `filters`."
    )

    @model_validator(mode="after")
    def _one_source(self) -> DocumentJson:
        if (self.text is None) == (self.url is None):
            raise ValueError("give exactly one of `text` (with `title`) or `url`")
        if self.text is not None and not (self.title or "").strip():
            raise ValueError("a text document needs a `title`")
        return self


class DocumentOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": _DOC_EXAMPLE})

    id: uuid.UUID
    kb_id: uuid.UUID
    space_id: uuid.UUID
    title: str
    filename: str
    mime_type: str | None
    format: str
    size_bytes: int
    content_hash: str
    version: int
    status: DocumentStatus
    error: str | None
    error_reason: str | None
    percent: int
    chunks_done: int
    chunks_total: int
    source_url: str | None
    source_id: uuid.UUID | None
    metadata: dict[str, Any]
    indexed_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class DocumentPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"example": {"items": [_DOC_EXAMPLE], "next_cursor": None}}
    )

    items: list[DocumentOut]
    next_cursor: str | None


_SEARCH_EXAMPLE: dict[str, Any] = {
    "query": "Where are the fire exits?",
    "top_k": 5,
    "mode": "hybrid",
    "filters": {"team": "hr"},
    "min_score": None,
}


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": _SEARCH_EXAMPLE})

    query: str = Field(min_length=1, max_length=4000)
    top_k: int = Field(5, ge=1, le=100)
    mode: SearchMode = "hybrid"
    filters: dict[str, Scalar | list[Scalar]] | None = Field(
        default=None, description="Document metadata: `{key: value}` or `{key: [any, of]}`."
    )
    min_score: float | None = Field(
        default=None,
        description="Drop hits below this score: cosine for vector, text rank for fulltext, "
        "reciprocal-rank-fusion score for hybrid.",
    )


class MultiSearchRequest(SearchRequest):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {**_SEARCH_EXAMPLE, "knowledge_base_ids": [_KB]}},
    )

    knowledge_base_ids: list[uuid.UUID] = Field(min_length=1, max_length=50)


class SearchItem(BaseModel):
    """One passage with what a citation needs."""

    model_config = ConfigDict(json_schema_extra={"example": _ITEM_EXAMPLE})

    text: str
    score: float
    document_id: uuid.UUID
    document_title: str
    kb_id: uuid.UUID
    page: int | None = None
    heading: str | None = None
    heading_path: list[str] = Field(default_factory=list)
    start: int
    end: int
    source_url: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class SearchResults(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {"items": [_ITEM_EXAMPLE]}})

    items: list[SearchItem]
