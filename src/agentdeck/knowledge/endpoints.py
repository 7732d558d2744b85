"""/api/v1/knowledge-bases: knowledge bases, their documents, ingestion progress and search."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Query, Request, Response, status
from sse_starlette import EventSourceResponse

from agentdeck.api import RuntimeDep, SessionDep, new_router
from agentdeck.auth.principal import Reader, Writer
from agentdeck.errors import AppError
from agentdeck.kit import sse
from agentdeck.kit.pagination import MAX_LIMIT
from agentdeck.knowledge import _upload, service
from agentdeck.knowledge.registry import registry_for
from agentdeck.knowledge.schemas import (
    DocumentJson,
    DocumentOut,
    DocumentPage,
    DocumentStatus,
    KnowledgeBaseCreate,
    KnowledgeBaseOut,
    KnowledgeBasePage,
    KnowledgeBaseUpdate,
    MultiSearchRequest,
    SearchRequest,
    SearchResults,
)
from agentdeck.models import KnowledgeBase, KnowledgeDocument

router = new_router("/knowledge-bases", tags=["knowledge"])

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Cursor = Annotated[str | None, Query(max_length=200)]


class _UnsupportedBody(AppError):
    status, type, title = 415, "unsupported-media-type", "Unsupported media type"


_DOCUMENT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": DocumentJson.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "title": {"type": "string", "maxLength": 500},
                        "metadata": {"type": "string", "description": "A JSON object."},
                    },
                },
                "example": {"file": "handbook.pdf", "title": "Employee handbook"},
            },
        },
    }
}
_SSE_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-sent events: `progress` (status, percent, chunks_done, "
        "chunks_total) whenever they change, then `ready` or `failed` (the document), then "
        "the stream ends.",
        "content": {
            "text/event-stream": {
                "example": 'event: progress\ndata: {"status": "processing", "percent": 40, '
                '"chunks_done": 8, "chunks_total": 20}\n\n'
            }
        },
    }
}


def doc_out(doc: KnowledgeDocument) -> DocumentOut:
    return DocumentOut(
        id=doc.id,
        kb_id=doc.kb_id,
        space_id=doc.space_id,
        title=doc.title,
        filename=doc.filename,
        mime_type=doc.mime_type,
        format=doc.format,
        size_bytes=doc.size_bytes,
        content_hash=doc.content_hash,
        version=doc.version,
        status=doc.status,
        error=doc.error,
        error_reason=doc.error_reason,
        percent=doc.percent,
        chunks_done=doc.chunks_done,
        chunks_total=doc.chunks_total,
        source_url=doc.source_url,
        source_id=doc.source_id,
        metadata=doc.metadata_ or {},
        indexed_at=doc.indexed_at,
        created_at=doc.created_at,
        updated_at=doc.updated_at,
    )


def kb_out(kb: KnowledgeBase) -> KnowledgeBaseOut:
    return KnowledgeBaseOut(
        id=kb.id,
        space_id=kb.space_id,
        name=kb.name,
        description=kb.description,
        embedding_model=kb.embedding_model,
        embedding_dim=kb.embedding_dim,
        chunking=service.chunking_of(kb),
        created_by=kb.created_by,
        created_at=kb.created_at,
        updated_at=kb.updated_at,
    )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=KnowledgeBaseOut)
async def create_kb(
    body: KnowledgeBaseCreate, principal: Writer, session: SessionDep
) -> KnowledgeBaseOut:
    """Create a knowledge base in a space (editors). Names are unique per space (409)."""
    kb = await service.create_kb(
        session, principal, space_id=body.space_id, name=body.name,
        description=body.description, embedding_model=body.embedding_model,
        chunking=body.chunking,
    )  # fmt: skip
    return kb_out(kb)


@router.get("", response_model=KnowledgeBasePage)
async def list_kbs(
    principal: Reader,
    session: SessionDep,
    space_id: Annotated[uuid.UUID | None, Query()] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> KnowledgeBasePage:
    """Knowledge bases of the spaces you can see (or of one space), newest first."""
    page = await service.list_kbs(session, principal, space_id=space_id, limit=limit, cursor=cursor)
    return KnowledgeBasePage(items=[kb_out(kb) for kb in page.items], next_cursor=page.next_cursor)


@router.post("/search", response_model=SearchResults)
async def search_many(
    body: MultiSearchRequest, principal: Reader, session: SessionDep, runtime: RuntimeDep
) -> SearchResults:
    """Search several knowledge bases at once (vector, fulltext or hybrid with RRF)."""
    items = await service.search(
        runtime, session, principal, body.knowledge_base_ids, query=body.query,
        top_k=body.top_k, mode=body.mode, filters=body.filters, min_score=body.min_score,
    )  # fmt: skip
    return SearchResults(items=items)


@router.get("/{kb_id}", response_model=KnowledgeBaseOut)
async def get_kb(kb_id: uuid.UUID, principal: Reader, session: SessionDep) -> KnowledgeBaseOut:
    """One knowledge base."""
    return kb_out(await service.get_kb(session, principal, kb_id))


@router.patch("/{kb_id}", response_model=KnowledgeBaseOut)
async def update_kb(
    kb_id: uuid.UUID, body: KnowledgeBaseUpdate, principal: Writer, session: SessionDep
) -> KnowledgeBaseOut:
    """Rename or describe it; a new `embedding_model` or `chunking` re-indexes every
    document in the background."""
    fields = body.model_dump(exclude_unset=True)
    return kb_out(await service.update_kb(session, principal, kb_id, fields))


@router.delete("/{kb_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_kb(kb_id: uuid.UUID, principal: Writer, session: SessionDep) -> Response:
    """Delete it with its documents, chunks and vectors (editors)."""
    await service.delete_kb(session, principal, kb_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{kb_id}/search", response_model=SearchResults)
async def search_one(
    kb_id: uuid.UUID,
    body: SearchRequest,
    principal: Reader,
    session: SessionDep,
    runtime: RuntimeDep,
) -> SearchResults:
    """Passages of this knowledge base that best answer `query`, with citation fields."""
    items = await service.search(
        runtime, session, principal, [kb_id], query=body.query, top_k=body.top_k,
        mode=body.mode, filters=body.filters, min_score=body.min_score,
    )  # fmt: skip
    return SearchResults(items=items)


# --- documents ----------------------------------------------------------------------------


@router.post(
    "/{kb_id}/documents",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DocumentOut,
    openapi_extra=_DOCUMENT_BODY,
    responses={
        200: {"model": DocumentOut, "description": "The same content is already there."},
        413: {"description": "The document is larger than allowed."},
        415: {"description": "The document's type is not allowed."},
    },
)
async def add_document(
    kb_id: uuid.UUID,
    request: Request,
    response: Response,
    principal: Writer,
    session: SessionDep,
    runtime: RuntimeDep,
) -> DocumentOut:
    """Add a document (editors): a multipart upload in the field `file` (txt, md, html, pdf,
    docx, csv, json), JSON `{"title", "text"}`, or JSON `{"url"}` for one web page.

    It is queued for ingestion (202); follow `status` or the `events` stream. The same bytes
    already in this knowledge base are not stored twice: that document is returned (200).
    """
    kb = await service.get_kb_for_update(session, principal, kb_id)
    settings = registry_for(runtime).settings
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media == "multipart/form-data":
        incoming = await _upload.from_multipart(request, settings)
    elif media == "application/json" or media.endswith("+json"):
        incoming = await _upload.from_json(request, runtime, settings)
    else:
        raise _UnsupportedBody(
            "send multipart/form-data (field `file`) or application/json", field="body"
        )
    doc, created = await service.add_content(
        session, kb, title=incoming.title, data=incoming.data, filename=incoming.filename,
        mime_type=incoming.mime_type, source_url=incoming.source_url,
        metadata=incoming.metadata, actor=principal.actor,
    )  # fmt: skip
    if not created:
        response.status_code = status.HTTP_200_OK
    return doc_out(doc)


@router.get("/{kb_id}/documents", response_model=DocumentPage)
async def list_documents(
    kb_id: uuid.UUID,
    principal: Reader,
    session: SessionDep,
    status: DocumentStatus | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> DocumentPage:
    """The knowledge base's documents with their ingestion status, newest first."""
    page = await service.list_documents(
        session, principal, kb_id, status=status, limit=limit, cursor=cursor
    )
    return DocumentPage(items=[doc_out(d) for d in page.items], next_cursor=page.next_cursor)


@router.get("/{kb_id}/documents/{doc_id}", response_model=DocumentOut)
async def get_document(
    kb_id: uuid.UUID, doc_id: uuid.UUID, principal: Reader, session: SessionDep
) -> DocumentOut:
    """One document: status (`queued`, `processing`, `ready`, `failed` with `error`) and
    progress (`percent`, `chunks_done`, `chunks_total`)."""
    return doc_out(await service.get_document(session, principal, kb_id, doc_id))


@router.delete("/{kb_id}/documents/{doc_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_document(
    kb_id: uuid.UUID, doc_id: uuid.UUID, principal: Writer, session: SessionDep
) -> Response:
    """Delete the document with its stored bytes, chunks and vectors (editors)."""
    await service.delete_document(session, principal, kb_id, doc_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{kb_id}/documents/{doc_id}/reindex",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DocumentOut,
)
async def reindex_document(
    kb_id: uuid.UUID, doc_id: uuid.UUID, principal: Writer, session: SessionDep
) -> DocumentOut:
    """Chunk and embed the stored document again, in the background (editors)."""
    return doc_out(await service.reindex_document(session, principal, kb_id, doc_id))


@router.get(
    "/{kb_id}/documents/{doc_id}/events", responses=_SSE_DOC, response_class=EventSourceResponse
)
async def document_events(
    kb_id: uuid.UUID,
    doc_id: uuid.UUID,
    principal: Reader,
    session: SessionDep,
    runtime: RuntimeDep,
) -> EventSourceResponse:
    """Follow the document's ingestion live until it is `ready` or `failed`."""
    await service.get_document(session, principal, kb_id, doc_id)
    await session.commit()  # hold no transaction while streaming
    poll_s = registry_for(runtime).settings.events_poll_s

    async def events() -> AsyncIterator[dict[str, Any]]:
        last: tuple[Any, ...] | None = None
        while True:
            doc = await service.document_state(runtime, doc_id)
            if doc is None:
                yield sse.message("failed", {"error": "document deleted"})
                return
            out = doc_out(doc)
            if doc.status in ("ready", "failed"):
                yield sse.message_json(doc.status, out.model_dump_json())
                return
            state = (doc.status, doc.percent, doc.chunks_done, doc.chunks_total)
            if state != last:
                last = state
                progress = out.model_dump(
                    mode="json", include={"status", "percent", "chunks_done", "chunks_total"}
                )
                yield sse.message("progress", progress)
            await asyncio.sleep(poll_s)

    return EventSourceResponse(events(), ping=sse.PING_S)
