"""Website sources of a knowledge base: viewers read, editors change and start crawls.

A source belongs to a knowledge base the caller can see (else 404, also for another
organisation's ids). Starting a crawl adds a queued `CrawlRun` and its `knowledge.crawl` job
in the caller's transaction; a source whose crawl is already queued or running answers 409
(a partial unique index backs that check against races). Scheduled sources (daily, weekly)
are started by the periodic `knowledge.crawl_schedule` job; see `crawl_tasks`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from agentdeck.audit import service as audit
from agentdeck.auth.principal import Principal
from agentdeck.errors import Conflict, InvalidInput, NotFound
from agentdeck.kit import netguard
from agentdeck.kit.db import utcnow
from agentdeck.kit.pagination import Page
from agentdeck.knowledge import _crawl_repository as repo
from agentdeck.knowledge._crawl_repository import CrawlRunRepository, SourceRepository
from agentdeck.knowledge._crawl_settings import CrawlSettings
from agentdeck.knowledge.registry import registry_for
from agentdeck.knowledge.service import get_kb, get_kb_for_update
from agentdeck.models import CrawlRun, KnowledgeSource
from agentdeck.worker import queue

CRAWL = "knowledge.crawl"
INTERVALS = {"daily": dt.timedelta(days=1), "weekly": dt.timedelta(days=7)}


def next_crawl(schedule: str, after: dt.datetime) -> dt.datetime | None:
    """When a source with ``schedule`` crawls next, counting from ``after``."""
    interval = INTERVALS.get(schedule)
    return after + interval if interval is not None else None


def _check_limits(fields: dict[str, Any], settings: CrawlSettings) -> None:
    """Refuse limits above the operator's caps."""
    if fields.get("max_pages") is not None and fields["max_pages"] > settings.max_pages:
        raise InvalidInput(f"max_pages may be at most {settings.max_pages}", field="max_pages")
    if fields.get("max_depth") is not None and fields["max_depth"] > settings.max_depth:
        raise InvalidInput(f"max_depth may be at most {settings.max_depth}", field="max_depth")


async def _check_start_url(fields: dict[str, Any], settings: CrawlSettings) -> None:
    """Refuse, unless private URLs are allowed, a start URL whose host is or resolves to a
    non-public address the operator's network policy does not allow: the same
    `kit.netguard` check the crawl makes before its first request (the system resolver runs
    off the event loop). A host that does not resolve yet is accepted: its crawl fails with
    ``dns`` until it does, and is checked again then.
    """
    url = fields.get("start_url")
    if url is None or settings.allow_private_urls:
        return
    try:
        await netguard.public_address(url)
    except netguard.Unresolvable:
        return
    except netguard.PrivateAddress as exc:
        raise InvalidInput(
            "the start URL points to a private or local address, which crawling may not reach",
            field="start_url",
        ) from exc


async def create_source(
    session: AsyncSession, principal: Principal, kb_id: uuid.UUID, fields: dict[str, Any]
) -> KnowledgeSource:
    """A new website source (editors). Raises NotFound, Forbidden, InvalidInput."""
    kb = await get_kb_for_update(session, principal, kb_id)
    settings = CrawlSettings()
    _check_limits(fields, settings)
    await _check_start_url(fields, settings)
    source = KnowledgeSource(
        org_id=kb.org_id,
        space_id=kb.space_id,
        kb_id=kb.id,
        **fields,
        # a scheduled source crawls first at the next schedule tick, then every interval
        next_crawl_at=utcnow() if fields.get("schedule", "never") in INTERVALS else None,
        created_by=principal.user_id,
    )
    SourceRepository(session, principal.scope).add(source)
    await session.flush()
    _audit(session, principal, "knowledge_source.created", source, fields)
    return source


async def get_source(
    session: AsyncSession, principal: Principal, kb_id: uuid.UUID, source_id: uuid.UUID
) -> KnowledgeSource:
    """A source of a visible knowledge base. Raises :class:`NotFound`."""
    await get_kb(session, principal, kb_id)
    source = await SourceRepository(session, principal.scope).in_kb(kb_id, source_id)
    if source is None:
        raise NotFound("source not found")
    return source


async def _source_for_update(
    session: AsyncSession, principal: Principal, kb_id: uuid.UUID, source_id: uuid.UUID
) -> KnowledgeSource:
    await get_kb_for_update(session, principal, kb_id)
    return await get_source(session, principal, kb_id, source_id)


async def list_sources(
    session: AsyncSession, principal: Principal, kb_id: uuid.UUID, *, limit: int, cursor: str | None
) -> Page[KnowledgeSource]:
    """The knowledge base's sources, newest first."""
    await get_kb(session, principal, kb_id)
    return await SourceRepository(session, principal.scope).list(kb_id, limit=limit, cursor=cursor)


async def latest_crawls(
    session: AsyncSession, principal: Principal, sources: list[KnowledgeSource]
) -> dict[uuid.UUID, CrawlRun]:
    """The newest crawl of each of ``sources``."""
    return await CrawlRunRepository(session, principal.scope).latest([s.id for s in sources])


async def update_source(
    session: AsyncSession,
    principal: Principal,
    kb_id: uuid.UUID,
    source_id: uuid.UUID,
    fields: dict[str, Any],
) -> KnowledgeSource:
    """Change a source (editors); a new schedule counts from the last crawl (or now)."""
    source = await _source_for_update(session, principal, kb_id, source_id)
    nulls = [name for name, value in fields.items() if value is None]
    if nulls:
        raise InvalidInput(f"{nulls[0]} cannot be null", field=nulls[0])
    settings = CrawlSettings()
    _check_limits(fields, settings)
    await _check_start_url(fields, settings)
    for name, value in fields.items():
        setattr(source, name, value)
    if "schedule" in fields:
        source.next_crawl_at = next_crawl(source.schedule, source.last_crawl_at or utcnow())
    source.updated_at = utcnow()
    _audit(session, principal, "knowledge_source.updated", source, fields)
    return source


async def delete_source(
    session: AsyncSession, principal: Principal, kb_id: uuid.UUID, source_id: uuid.UUID
) -> None:
    """Delete a source with its crawl runs (editors). A running crawl stops at its next page;
    the documents it produced stay in the knowledge base."""
    source = await _source_for_update(session, principal, kb_id, source_id)
    _audit(session, principal, "knowledge_source.deleted", source, {"start_url": source.start_url})
    await SourceRepository(session, principal.scope).delete(source)


async def start_crawl(
    session: AsyncSession, principal: Principal, kb_id: uuid.UUID, source_id: uuid.UUID
) -> CrawlRun:
    """Queue a crawl of the source now (editors). Raises Conflict when one is active."""
    source = await _source_for_update(session, principal, kb_id, source_id)
    run = await queue_crawl(session, source, trigger="manual", created_by=principal.user_id)
    _audit(session, principal, "knowledge_source.crawl_started", source, {"crawl_id": run.id})
    return run


async def queue_crawl(
    session: AsyncSession,
    source: KnowledgeSource,
    *,
    trigger: str,
    created_by: uuid.UUID | None,
) -> CrawlRun:
    """Add a queued crawl run and its job to the transaction; wake workers after commit.

    Raises :class:`Conflict` when the source already has a queued or running crawl.
    """
    active = await repo.active_run(session, source.id)
    if active is not None:
        raise Conflict(
            f"a crawl of this source is already {active.status}",
            extra={"crawl_id": str(active.id)},
        )
    run = CrawlRun(
        org_id=source.org_id,
        space_id=source.space_id,
        source_id=source.id,
        kb_id=source.kb_id,
        trigger=trigger,
        status="queued",
        errors=[],
        created_by=created_by,
    )
    session.add(run)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:  # another request queued one between the check and here
        raise Conflict("a crawl of this source is already queued") from exc
    await queue.enqueue(
        session, CRAWL, {"crawl_id": str(run.id)}, org_id=run.org_id, dedupe_key=f"{CRAWL}:{run.id}"
    )
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_notify('agentdeck_jobs', :kind)"), {"kind": CRAWL})
    registry = registry_for(session)
    event.listen(
        session.sync_session, "after_commit", lambda _s: registry.wake_workers(), once=True
    )
    return run


async def list_crawls(
    session: AsyncSession,
    principal: Principal,
    kb_id: uuid.UUID,
    source_id: uuid.UUID,
    *,
    limit: int,
    cursor: str | None,
) -> Page[CrawlRun]:
    """The source's crawl runs, newest first."""
    await get_source(session, principal, kb_id, source_id)
    return await CrawlRunRepository(session, principal.scope).list(
        source_id, limit=limit, cursor=cursor
    )


async def get_crawl(
    session: AsyncSession,
    principal: Principal,
    kb_id: uuid.UUID,
    source_id: uuid.UUID,
    crawl_id: uuid.UUID,
) -> CrawlRun:
    """One crawl run with its status and per-page errors. Raises :class:`NotFound`."""
    await get_source(session, principal, kb_id, source_id)
    run = await CrawlRunRepository(session, principal.scope).in_source(source_id, crawl_id)
    if run is None:
        raise NotFound("crawl not found")
    return run


def _audit(
    session: AsyncSession,
    principal: Principal,
    action: str,
    source: KnowledgeSource,
    changes: dict[str, Any],
) -> None:
    audit.record(
        session,
        org_id=principal.org_id,
        actor=principal.actor,
        action=action,
        target_type="knowledge_source",
        target_id=source.id,
        changes={"kb_id": source.kb_id, **changes},
    )
