"""Knowledge retrieval (RAG) as a library: loaders, chunking, embeddings, stores, retrieval.

No web framework, no ORM models, no feature packages: the `knowledge` feature wires this in.
Heavy dependencies (pypdf, python-docx, trafilatura, sentence-transformers, model2vec, asyncpg,
sqlite-vec) are imported only where used.
"""

from __future__ import annotations

from agentdeck.rag.chunking import ChunkOptions, ChunkStrategy, chunk_document, chunk_sections
from agentdeck.rag.embeddings import Embedder, HashingEmbedder, LocalMiniLM, Model2VecStatic
from agentdeck.rag.errors import EmbeddingError, LoadError, RagError, StoreError
from agentdeck.rag.ingest import IngestResult, SourceDocument, ingest_document, ingest_documents
from agentdeck.rag.loaders import LoadLimits, load_document
from agentdeck.rag.retrieval import Citation, cited, format_context, number_hits, retrieve
from agentdeck.rag.stores.base import VectorStore
from agentdeck.rag.types import (
    Chunk,
    DocumentInfo,
    EmbeddedChunk,
    Filters,
    SearchHit,
    SearchMode,
    Section,
)

__all__ = [
    "Chunk", "ChunkOptions", "ChunkStrategy", "Citation", "DocumentInfo", "EmbeddedChunk",
    "Embedder", "EmbeddingError", "Filters", "HashingEmbedder", "IngestResult", "LoadError",
    "LoadLimits", "LocalMiniLM", "Model2VecStatic", "RagError", "SearchHit", "SearchMode",
    "Section", "SourceDocument", "StoreError", "VectorStore", "chunk_document",
    "chunk_sections", "cited", "format_context", "ingest_document", "ingest_documents",
    "load_document", "number_hits", "retrieve",
]  # fmt: skip
