"""Jobs of website sources: ``knowledge.crawl`` runs one crawl, ``knowledge.crawl_schedule``
starts the crawls that daily and weekly sources are due for.

A crawl writes as it goes, one short transaction per page: a changed page becomes a document
through `add_document_content` (which dedups and queues its ingestion) and its text hash is
remembered; an unchanged page only counts. Deleting the source (or its run) stops the crawl
at the next page. A crawl retried after a worker died starts over with the hashes stored so
far, so the pages already sent count as unchanged and nothing is ingested twice.
"""

from __future__ import annotations

import datetime as dt
import uuid
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agentdeck.errors import AppError
from agentdeck.kit.db import transaction, utcnow
from agentdeck.knowledge import _crawl_repository as repo
from agentdeck.knowledge._crawl_settings import CrawlSettings
from agentdeck.knowledge.repository import kb_by_id
from agentdeck.knowledge.service import add_document_content
from agentdeck.knowledge.settings import KnowledgeSettings
from agentdeck.knowledge.sources import CRAWL, INTERVALS, next_crawl, queue_crawl
from agentdeck.models import CrawlRun, KnowledgeSource
from agentdeck.rag.crawl import CrawledPage, CrawlError, CrawlEvent, CrawlOptions, PageError, crawl
from agentdeck.worker.loop import JobContext

log = structlog.get_logger(__name__)

CRAWL_SCHEDULE = "knowledge.crawl_schedule"
SCHEDULE_EVERY = dt.timedelta(minutes=5)
_DUE_BATCH = 100
_FINAL = ("completed", "failed")

__all__ = ["CRAWL", "CRAWL_SCHEDULE", "SCHEDULE_EVERY", "crawl_source", "start_due_crawls"]


class _Stopped(Exception):
    """The crawl run or its source was deleted while crawling."""


@dataclass
class _Tally:
    fetched: int = 0
    changed: int = 0
    unchanged: int = 0
    failed: int = 0
    skipped: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def apply(self, run: CrawlRun) -> None:
        run.pages_fetched, run.pages_changed = self.fetched, self.changed
        run.pages_unchanged, run.pages_failed = self.unchanged, self.failed
        run.pages_skipped, run.errors = self.skipped, list(self.errors)
        run.updated_at = utcnow()


def _filename(url: str) -> str:
    """A readable ``.html`` file name for a page (the loader picks the format from it)."""
    parts = urlsplit(url)
    slug = parts.path.strip("/").replace("/", "_") or "index"
    return f"{parts.hostname}_{slug}"[:200].removesuffix(".html").removesuffix(".htm") + ".html"


async def _begin(
    sessionmaker: async_sessionmaker[AsyncSession], crawl_id: uuid.UUID
) -> tuple[KnowledgeSource, dict[str, str]] | None:
    """Mark the run running; the source and its known page hashes, or None (nothing to do)."""
    async with transaction(sessionmaker) as session:
        run = await repo.run_by_id(session, crawl_id)
        if run is None or run.status in _FINAL:
            return None
        if not await repo.lock_source(session, run.source_id, write=True):
            return None
        source = await repo.source_by_id(session, run.source_id)
        if source is None:
            return None
        run.status, run.started_at, run.error = "running", utcnow(), None
        _Tally().apply(run)  # a retried crawl starts its counts over
        return source, await repo.page_hashes(session, source.id)


async def _record(
    session: AsyncSession,
    source: KnowledgeSource,
    event: CrawlEvent,
    tally: _Tally,
    max_errors: int,
) -> None:
    """Count one crawl event; send a changed page to ingestion and remember its hash."""
    if isinstance(event, PageError):
        tally.failed += 1
        _keep_error(tally, event.url, f"{event.error}: {event.detail}", max_errors)
        return
    if not isinstance(event, CrawledPage):
        tally.skipped += 1
        return
    tally.fetched += 1
    if not event.changed:
        tally.unchanged += 1
        return
    kb = await kb_by_id(session, source.kb_id)
    if kb is None:
        raise _Stopped
    try:
        async with session.begin_nested():
            doc = await add_document_content(
                session, kb, title=event.title, data=event.html, filename=_filename(event.url),
                mime_type="text/html", source_url=event.url, source_id=source.id,
                metadata={"source_url": event.url, "crawl_depth": event.depth},
            )  # fmt: skip
    except AppError as exc:  # this page only: record it, go on with the crawl
        tally.failed += 1
        _keep_error(tally, event.url, f"ingest: {exc.detail}", max_errors)
        return
    await repo.save_page(session, source, event.url, event.content_hash, doc.id)
    tally.changed += 1


def _keep_error(tally: _Tally, url: str, error: str, max_errors: int) -> None:
    if len(tally.errors) < max_errors:
        tally.errors.append({"url": url, "error": error[:500]})


async def _finish(
    sessionmaker: async_sessionmaker[AsyncSession],
    crawl_id: uuid.UUID,
    tally: _Tally,
    error: str | None,
) -> None:
    async with transaction(sessionmaker) as session:
        run = await repo.run_by_id(session, crawl_id)
        if run is None or not await repo.lock_source(session, run.source_id, write=True):
            return
        run = await repo.run_by_id(session, crawl_id)  # as it is now that the source is locked
        if run is None:
            return
        now = utcnow()
        tally.apply(run)
        run.status, run.error, run.finished_at = ("failed" if error else "completed"), error, now
        source = await repo.source_by_id(session, run.source_id)
        if source is not None:
            source.last_crawl_at = now
            source.next_crawl_at = next_crawl(source.schedule, now)


async def crawl_source(ctx: JobContext) -> None:
    """``knowledge.crawl``: run the crawl run ``payload.crawl_id`` to its end.

    Per-page failures are recorded on the run; a start URL that cannot be crawled (refused
    address, unknown host) fails the run. Never raises for a crawl's own failures, so the
    queue does not retry a crawl that already reported its result.
    """
    crawl_id = uuid.UUID(str(ctx.job.payload["crawl_id"]))
    begun = await _begin(ctx.sessionmaker, crawl_id)
    if begun is None:
        return
    source, known = begun
    settings, limits = CrawlSettings(), KnowledgeSettings()
    if "html" not in limits.allowed_formats:
        refused = "html documents are not allowed here (AGENTDECK_KNOWLEDGE__ALLOWED_FORMATS)"
        await _finish(ctx.sessionmaker, crawl_id, _Tally(), refused)
        return
    options = CrawlOptions(
        max_pages=source.max_pages,
        max_depth=source.max_depth,
        include=tuple(source.include_patterns),
        exclude=tuple(source.exclude_patterns),
        delay=source.delay_s,
        timeout=settings.timeout_s,
        max_bytes=min(settings.max_page_bytes, limits.max_upload_bytes),
        allow_private=settings.allow_private_urls,
    )
    tally = _Tally()
    error: str | None = None
    log.info("knowledge.crawl_started", crawl_id=str(crawl_id), source_id=str(source.id))
    try:
        async with httpx.AsyncClient(timeout=settings.timeout_s) as client:
            events = crawl(client, source.start_url, options, known_hashes=known)
            async with aclosing(events):
                async for event in events:
                    async with transaction(ctx.sessionmaker) as session:
                        if not await repo.lock_source(session, source.id, write=False):
                            raise _Stopped
                        run = await repo.run_by_id(session, crawl_id)
                        if run is None or run.status != "running":
                            raise _Stopped
                        await _record(session, source, event, tally, settings.max_errors_kept)
                        tally.apply(run)
    except _Stopped:
        log.info("knowledge.crawl_stopped", crawl_id=str(crawl_id))
    except CrawlError as exc:
        error = f"{exc.reason}: {exc.detail}"
    except Exception as exc:
        log.exception("knowledge.crawl_failed", crawl_id=str(crawl_id))
        error = f"internal error: {type(exc).__name__}"
    await _finish(ctx.sessionmaker, crawl_id, tally, error)
    log.info(
        "knowledge.crawl_finished", crawl_id=str(crawl_id), changed=tally.changed,
        unchanged=tally.unchanged, failed=tally.failed, error=error,
    )  # fmt: skip


async def start_due_crawls(ctx: JobContext) -> None:
    """``knowledge.crawl_schedule``: queue a crawl for every scheduled source that is due.

    Each due source is claimed by moving its ``next_crawl_at`` forward (compare-and-set), so
    concurrent schedulers start it once; a source whose crawl is still active is skipped.
    """
    now = utcnow()
    async with transaction(ctx.sessionmaker) as session:
        due = list(await repo.due_sources(session, now, _DUE_BATCH))
    started = 0
    for source in due:
        if source.next_crawl_at is None or source.schedule not in INTERVALS:
            continue
        async with transaction(ctx.sessionmaker) as session:
            claimed = await repo.claim_due(
                session, source.id, source.next_crawl_at, now + INTERVALS[source.schedule]
            )
            if not claimed or await repo.active_run(session, source.id) is not None:
                continue
            try:
                await queue_crawl(session, source, trigger="schedule", created_by=None)
            except AppError:  # queued meanwhile by a request: that crawl counts
                continue
            started += 1
    if started:
        log.info("knowledge.crawls_scheduled", started=started)
