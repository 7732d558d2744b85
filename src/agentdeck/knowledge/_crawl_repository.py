"""Queries of website sources and crawl runs: scoped ones for callers, id-only ones
(``tenant_bypass``) for the crawl and schedule jobs, which act on ids a caller's request or
the schedule handed them."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agentdeck.kit.db import utcnow
from agentdeck.kit.pagination import Page
from agentdeck.kit.repository import ScopedRepository
from agentdeck.models import CrawlRun, KnowledgeBase, KnowledgeSource, KnowledgeSourcePage

_WORKER = {"tenant_bypass": "knowledge-crawler"}
ACTIVE = ("queued", "running")


class SourceRepository(ScopedRepository[KnowledgeSource]):
    model = KnowledgeSource

    async def in_kb(self, kb_id: uuid.UUID, source_id: uuid.UUID) -> KnowledgeSource | None:
        stmt = self.select().where(KnowledgeSource.kb_id == kb_id, KnowledgeSource.id == source_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def list(
        self, kb_id: uuid.UUID, *, limit: int, cursor: str | None
    ) -> Page[KnowledgeSource]:
        stmt = self.select().where(KnowledgeSource.kb_id == kb_id)
        return await self.page(stmt, limit=limit, cursor=cursor)


class CrawlRunRepository(ScopedRepository[CrawlRun]):
    model = CrawlRun

    async def in_source(self, source_id: uuid.UUID, crawl_id: uuid.UUID) -> CrawlRun | None:
        stmt = self.select().where(CrawlRun.source_id == source_id, CrawlRun.id == crawl_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def list(self, source_id: uuid.UUID, *, limit: int, cursor: str | None) -> Page[CrawlRun]:
        stmt = self.select().where(CrawlRun.source_id == source_id)
        return await self.page(stmt, limit=limit, cursor=cursor)

    async def latest(self, source_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, CrawlRun]:
        """The newest run of each source (for listing sources with their last crawl)."""
        if not source_ids:
            return {}
        stmt = self.select().where(CrawlRun.source_id.in_(list(source_ids)))
        newest: dict[uuid.UUID, CrawlRun] = {}
        for run in await self.all(stmt.order_by(CrawlRun.id)):
            newest[run.source_id] = run
        return newest


async def active_run(session: AsyncSession, source_id: uuid.UUID) -> CrawlRun | None:
    """The queued or running crawl of a source, if any."""
    stmt = (
        select(CrawlRun)
        .where(CrawlRun.source_id == source_id, CrawlRun.status.in_(ACTIVE))
        .limit(1)
        .execution_options(**_WORKER)
    )
    return (await session.execute(stmt)).scalars().first()


async def run_by_id(session: AsyncSession, crawl_id: uuid.UUID) -> CrawlRun | None:
    stmt = (
        select(CrawlRun)
        .where(CrawlRun.id == crawl_id)
        .execution_options(**_WORKER, populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def lock_source(session: AsyncSession, source_id: uuid.UUID, *, write: bool) -> bool:
    """Lock the source row before anything else of a crawl transaction (shared, or for an
    update of its own columns); False when it is gone. Deleting a source locks it first
    and then cascades to its runs and pages, so taking this lock first keeps a crawl and a
    delete in one order (no deadlock on PostgreSQL; SQLite serialises writers anyway). The
    knowledge base row comes first (key-share, as the documents' foreign key takes it), for
    a knowledge base's delete cascades to its sources in that order too."""
    owner = select(KnowledgeSource.kb_id).where(KnowledgeSource.id == source_id)
    kb = (
        select(KnowledgeBase.id)
        .where(KnowledgeBase.id == owner.scalar_subquery())
        .with_for_update(read=True, key_share=True)
        .execution_options(**_WORKER)
    )
    if (await session.execute(kb)).first() is None:
        return False
    stmt = (
        select(KnowledgeSource.id)
        .where(KnowledgeSource.id == source_id)
        .with_for_update(read=not write, key_share=write)
        .execution_options(**_WORKER)
    )
    return (await session.execute(stmt)).first() is not None


async def source_by_id(session: AsyncSession, source_id: uuid.UUID) -> KnowledgeSource | None:
    stmt = (
        select(KnowledgeSource)
        .where(KnowledgeSource.id == source_id)
        .execution_options(**_WORKER, populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def due_sources(
    session: AsyncSession, now: dt.datetime, limit: int
) -> Sequence[KnowledgeSource]:
    """Scheduled sources whose next crawl is due, the longest-waiting first."""
    stmt = (
        select(KnowledgeSource)
        .where(KnowledgeSource.schedule != "never", KnowledgeSource.next_crawl_at <= now)
        .order_by(KnowledgeSource.next_crawl_at)
        .limit(limit)
        .execution_options(**_WORKER)
    )
    return (await session.execute(stmt)).scalars().all()


async def claim_due(
    session: AsyncSession, source_id: uuid.UUID, due_at: dt.datetime, next_at: dt.datetime
) -> bool:
    """Move a due source's next crawl to ``next_at`` if it is still ``due_at``.

    Compare-and-set: of several schedulers looking at the same due source, one wins.
    """
    result = await session.execute(
        update(KnowledgeSource)
        .where(KnowledgeSource.id == source_id, KnowledgeSource.next_crawl_at == due_at)
        .values(next_crawl_at=next_at, updated_at=utcnow())
        .execution_options(**_WORKER)
    )
    return bool(getattr(result, "rowcount", 0))


async def page_hashes(session: AsyncSession, source_id: uuid.UUID) -> dict[str, str]:
    """URL -> content hash of every page the source's crawls stored."""
    stmt = (
        select(KnowledgeSourcePage.url, KnowledgeSourcePage.content_hash)
        .where(KnowledgeSourcePage.source_id == source_id)
        .execution_options(**_WORKER)
    )
    return {url: digest for url, digest in (await session.execute(stmt)).all()}


async def save_page(
    session: AsyncSession,
    source: KnowledgeSource,
    url: str,
    content_hash: str,
    document_id: uuid.UUID,
) -> None:
    """Remember a page's hash and document (insert or update)."""
    stmt = (
        select(KnowledgeSourcePage)
        .where(KnowledgeSourcePage.source_id == source.id, KnowledgeSourcePage.url == url)
        .execution_options(**_WORKER)
    )
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None:
        session.add(
            KnowledgeSourcePage(
                org_id=source.org_id,
                space_id=source.space_id,
                source_id=source.id,
                url=url,
                content_hash=content_hash,
                document_id=document_id,
            )
        )
    else:
        row.content_hash, row.document_id = content_hash, document_id
