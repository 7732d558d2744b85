"""Knowledge queries: scoped ones for callers, id-only ones (``tenant_bypass``) for workers.

The ingestion job and `search_in_space` act on ids they were handed by code that already
checked the tenant (a caller's request, a run of that org and space), so they use the bypass.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agentdeck.kit.db import utcnow
from agentdeck.kit.pagination import Page
from agentdeck.kit.repository import ScopedRepository
from agentdeck.models import KnowledgeBase, KnowledgeDocument, KnowledgeDocumentContent

_WORKER = {"tenant_bypass": "knowledge-worker"}


class KnowledgeBaseRepository(ScopedRepository[KnowledgeBase]):
    model = KnowledgeBase

    async def by_name(self, space_id: uuid.UUID, name: str) -> KnowledgeBase | None:
        stmt = self.select().where(KnowledgeBase.space_id == space_id, KnowledgeBase.name == name)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def list(
        self, *, space_id: uuid.UUID | None, limit: int, cursor: str | None
    ) -> Page[KnowledgeBase]:
        stmt = self.select()
        if space_id is not None:
            stmt = stmt.where(KnowledgeBase.space_id == space_id)
        return await self.page(stmt, limit=limit, cursor=cursor)


class KnowledgeDocumentRepository(ScopedRepository[KnowledgeDocument]):
    model = KnowledgeDocument

    async def in_kb(self, kb_id: uuid.UUID, doc_id: uuid.UUID) -> KnowledgeDocument | None:
        stmt = self.select().where(KnowledgeDocument.kb_id == kb_id, KnowledgeDocument.id == doc_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def list(
        self, kb_id: uuid.UUID, *, status: str | None, limit: int, cursor: str | None
    ) -> Page[KnowledgeDocument]:
        stmt = self.select().where(KnowledgeDocument.kb_id == kb_id)
        if status is not None:
            stmt = stmt.where(KnowledgeDocument.status == status)
        return await self.page(stmt, limit=limit, cursor=cursor)


async def kb_by_id(session: AsyncSession, kb_id: uuid.UUID) -> KnowledgeBase | None:
    stmt = select(KnowledgeBase).where(KnowledgeBase.id == kb_id).execution_options(**_WORKER)
    return (await session.execute(stmt)).scalar_one_or_none()


async def kbs_in_space(
    session: AsyncSession, org_id: uuid.UUID, space_id: uuid.UUID
) -> Sequence[KnowledgeBase]:
    """Every knowledge base of one space (for references by id or name from a run)."""
    stmt = (
        select(KnowledgeBase)
        .where(KnowledgeBase.org_id == org_id, KnowledgeBase.space_id == space_id)
        .execution_options(**_WORKER)
    )
    return (await session.execute(stmt)).scalars().all()


async def document_by_id(session: AsyncSession, doc_id: uuid.UUID) -> KnowledgeDocument | None:
    stmt = (
        select(KnowledgeDocument)
        .where(KnowledgeDocument.id == doc_id)
        .execution_options(**_WORKER, populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def documents_of(session: AsyncSession, kb_id: uuid.UUID) -> Sequence[KnowledgeDocument]:
    stmt = (
        select(KnowledgeDocument)
        .where(KnowledgeDocument.kb_id == kb_id)
        .order_by(KnowledgeDocument.id)
        .execution_options(**_WORKER)
    )
    return (await session.execute(stmt)).scalars().all()


async def document_with_hash(
    session: AsyncSession, kb_id: uuid.UUID, content_hash: str
) -> KnowledgeDocument | None:
    stmt = (
        select(KnowledgeDocument)
        .where(KnowledgeDocument.kb_id == kb_id, KnowledgeDocument.content_hash == content_hash)
        .order_by(KnowledgeDocument.id)
        .limit(1)
        .execution_options(**_WORKER)
    )
    return (await session.execute(stmt)).scalars().first()


async def document_with_url(
    session: AsyncSession, kb_id: uuid.UUID, source_url: str
) -> KnowledgeDocument | None:
    stmt = (
        select(KnowledgeDocument)
        .where(KnowledgeDocument.kb_id == kb_id, KnowledgeDocument.source_url == source_url)
        .order_by(KnowledgeDocument.id)
        .limit(1)
        .execution_options(**_WORKER)
    )
    return (await session.execute(stmt)).scalars().first()


async def content_of(session: AsyncSession, doc_id: uuid.UUID) -> bytes | None:
    stmt = (
        select(KnowledgeDocumentContent.data)
        .where(KnowledgeDocumentContent.document_id == doc_id)
        .execution_options(**_WORKER)
    )
    data: bytes | None = (await session.execute(stmt)).scalar_one_or_none()
    return data


async def put_content(session: AsyncSession, doc: KnowledgeDocument, data: bytes) -> None:
    """Store (or replace) the document's original bytes."""
    await session.execute(
        delete(KnowledgeDocumentContent)
        .where(KnowledgeDocumentContent.document_id == doc.id)
        .execution_options(**_WORKER)
    )
    session.add(
        KnowledgeDocumentContent(
            org_id=doc.org_id, space_id=doc.space_id, document_id=doc.id, data=data
        )
    )


async def set_document(
    session: AsyncSession, doc_id: uuid.UUID, version: int, **values: Any
) -> bool:
    """Update a document's ingestion state if it still has ``version``; False otherwise."""
    result = await session.execute(
        update(KnowledgeDocument)
        .where(KnowledgeDocument.id == doc_id, KnowledgeDocument.version == version)
        .values(**values, updated_at=utcnow())
        .execution_options(**_WORKER)
    )
    return bool(getattr(result, "rowcount", 0))


async def set_kb_dim(session: AsyncSession, kb_id: uuid.UUID, dim: int) -> None:
    """Record the dimension a provider embedding model turned out to have."""
    await session.execute(
        update(KnowledgeBase)
        .where(KnowledgeBase.id == kb_id, KnowledgeBase.embedding_dim.is_(None))
        .values(embedding_dim=dim)
        .execution_options(**_WORKER)
    )
