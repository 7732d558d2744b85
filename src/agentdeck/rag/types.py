"""The values that flow through the RAG pipeline: sections, chunks, stored chunks and hits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

SearchMode = Literal["vector", "fulltext", "hybrid"]
MetadataValue = str | int | float | bool
Metadata = Mapping[str, MetadataValue]
FilterValue = MetadataValue | Sequence[MetadataValue]
Filters = Mapping[str, FilterValue]


@dataclass(frozen=True, slots=True)
class Section:
    """A structural piece of a document as a loader extracted it.

    `start`/`end` are character offsets of `text` in the document's *source text*: the decoded
    file for txt, md, csv and json (so ``source[start:end]`` contains `text`), and the
    extracted text, sections joined by a blank line, for html, pdf and docx.
    """

    text: str
    heading_path: list[str] = field(default_factory=list)
    page: int | None = None
    start: int = 0
    end: int = 0


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of a document sized for embedding; keeps where it came from."""

    text: str
    position: int
    heading_path: list[str]
    page: int | None
    start: int
    end: int
    token_count: int


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    """What a store keeps about one document of a knowledge base.

    `version` is typically the content hash: upserting the same (doc_id, version) twice is a
    no-op, a new version replaces every chunk of the old one.
    """

    doc_id: str
    version: str
    title: str = ""
    metadata: Metadata = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EmbeddedChunk:
    """A chunk with its (normalised) embedding, ready for a store."""

    chunk: Chunk
    vector: Sequence[float]


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One search result. `score` depends on the mode: cosine similarity for ``vector``,
    the engine's text rank for ``fulltext`` (bm25 on SQLite, ts_rank_cd on PostgreSQL, higher
    is better in both) and the reciprocal-rank-fusion score for ``hybrid``."""

    kb_id: str
    document_id: str
    title: str
    text: str
    score: float
    position: int
    heading_path: list[str]
    page: int | None
    start: int
    end: int
    metadata: Metadata = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, int]:
        """Identity of the chunk across search modes (kb, document, position)."""
        return (self.kb_id, self.document_id, self.position)
