"""/api/v1/knowledge-bases/{kb_id}/sources: websites crawled into a knowledge base."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Query, Response, status

from agentdeck.api import SessionDep, new_router
from agentdeck.auth.principal import Reader, Writer
from agentdeck.kit.pagination import MAX_LIMIT
from agentdeck.knowledge import sources as service
from agentdeck.knowledge._crawl_schemas import (
    CrawlRunOut,
    CrawlRunPage,
    SourceCreate,
    SourceOut,
    SourcePage,
    SourceUpdate,
)
from agentdeck.models import CrawlRun, KnowledgeSource

router = new_router("/knowledge-bases/{kb_id}/sources", tags=["knowledge sources"])

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Cursor = Annotated[str | None, Query(max_length=200)]


def _out(source: KnowledgeSource, last: CrawlRun | None) -> SourceOut:
    out = SourceOut.model_validate(source)
    out.last_crawl = CrawlRunOut.model_validate(last) if last is not None else None
    return out


@router.post("", status_code=status.HTTP_201_CREATED, response_model=SourceOut)
async def create_source(
    kb_id: uuid.UUID, body: SourceCreate, principal: Writer, session: SessionDep
) -> SourceOut:
    """Add a website to crawl into the knowledge base (editors).

    Nothing is fetched yet: start a crawl with `POST .../{source_id}/crawl`. A daily or
    weekly source is also crawled at the next schedule check (every 5 minutes), then once per
    day or week. A non-http(s) or malformed `start_url` is 422.
    """
    source = await service.create_source(session, principal, kb_id, body.model_dump())
    return _out(source, None)


@router.get("", response_model=SourcePage)
async def list_sources(
    kb_id: uuid.UUID,
    principal: Reader,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> SourcePage:
    """The knowledge base's website sources with their newest crawl, newest first."""
    page = await service.list_sources(session, principal, kb_id, limit=limit, cursor=cursor)
    latest = await service.latest_crawls(session, principal, list(page.items))
    return SourcePage(
        items=[_out(s, latest.get(s.id)) for s in page.items], next_cursor=page.next_cursor
    )


@router.get("/{source_id}", response_model=SourceOut)
async def get_source(
    kb_id: uuid.UUID, source_id: uuid.UUID, principal: Reader, session: SessionDep
) -> SourceOut:
    """One website source with its newest crawl."""
    source = await service.get_source(session, principal, kb_id, source_id)
    latest = await service.latest_crawls(session, principal, [source])
    return _out(source, latest.get(source.id))


@router.patch("/{source_id}", response_model=SourceOut)
async def update_source(
    kb_id: uuid.UUID,
    source_id: uuid.UUID,
    body: SourceUpdate,
    principal: Writer,
    session: SessionDep,
) -> SourceOut:
    """Change the start URL, limits, patterns, delay or schedule (editors)."""
    fields = body.model_dump(exclude_unset=True)
    source = await service.update_source(session, principal, kb_id, source_id, fields)
    latest = await service.latest_crawls(session, principal, [source])
    return _out(source, latest.get(source.id))


@router.delete("/{source_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_source(
    kb_id: uuid.UUID, source_id: uuid.UUID, principal: Writer, session: SessionDep
) -> Response:
    """Delete the source and its crawl history (editors); its documents stay."""
    await service.delete_source(session, principal, kb_id, source_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{source_id}/crawl",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=CrawlRunOut,
    responses={409: {"description": "A crawl of this source is already queued or running."}},
)
async def start_crawl(
    kb_id: uuid.UUID, source_id: uuid.UUID, principal: Writer, session: SessionDep
) -> CrawlRunOut:
    """Crawl the website now (editors): 202 with the queued crawl run, 409 when one is
    already queued or running (its id is in `crawl_id`)."""
    run = await service.start_crawl(session, principal, kb_id, source_id)
    return CrawlRunOut.model_validate(run)


@router.get("/{source_id}/crawls", response_model=CrawlRunPage)
async def list_crawls(
    kb_id: uuid.UUID,
    source_id: uuid.UUID,
    principal: Reader,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> CrawlRunPage:
    """The source's crawl runs, newest first."""
    page = await service.list_crawls(
        session, principal, kb_id, source_id, limit=limit, cursor=cursor
    )
    return CrawlRunPage(
        items=[CrawlRunOut.model_validate(r) for r in page.items], next_cursor=page.next_cursor
    )


@router.get("/{source_id}/crawls/{crawl_id}", response_model=CrawlRunOut)
async def get_crawl(
    kb_id: uuid.UUID,
    source_id: uuid.UUID,
    crawl_id: uuid.UUID,
    principal: Reader,
    session: SessionDep,
) -> CrawlRunOut:
    """One crawl run: status, page counts and per-page errors."""
    run = await service.get_crawl(session, principal, kb_id, source_id, crawl_id)
    return CrawlRunOut.model_validate(run)
