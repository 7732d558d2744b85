"""Streaming a run's events (replay, then live) and waiting for a run to stop.

No database transaction is held while streaming: each replay or status check opens a short
one. Live events come from this process's broker, which (with a relay) also receives the
items of worker processes. Whatever a relay missed is in the journal: it is re-read whenever
the live queue is quiet for `_POLL_S` (`_RELAYED_POLL_S` while the relay is subscribed),
which also is how streaming works across processes on SQLite.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agentdeck.errors import NotFound, ShuttingDown
from agentdeck.models import Run
from agentdeck.run._services import services_for
from agentdeck.run.broker import REPLAY, SHUTDOWN, STATUS_CHANGED, StreamItem
from agentdeck.run.journal_sql import SqlJournal
from agentdeck.run.repository import FINAL, run_by_id

if TYPE_CHECKING:
    from agentdeck.api import Runtime
    from agentdeck.auth.principal import Principal

_POLL_S = 0.25
_RELAYED_POLL_S = 1.0
_READY_S = 1.0
_SHUTDOWN_DETAIL = "the server is shutting down; the run goes on: follow it again"


def _sessionmaker(
    source: Runtime | async_sessionmaker[AsyncSession],
) -> async_sessionmaker[AsyncSession]:
    if isinstance(source, async_sessionmaker):
        return source
    return source.sessionmaker


async def _status(sessionmaker: async_sessionmaker[AsyncSession], run_id: uuid.UUID) -> Run:
    async with sessionmaker() as session:
        run = await run_by_id(session, run_id)
    if run is None:
        raise NotFound("run not found")
    return run


async def _visible_run(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal_or_run: Principal | Run,
    run_id: uuid.UUID,
) -> Run:
    if isinstance(principal_or_run, Run):
        return principal_or_run
    from agentdeck.run.service import get_run

    async with sessionmaker() as session:
        return await get_run(session, principal_or_run, run_id)


async def stream_events(
    runtime: Runtime | async_sessionmaker[AsyncSession],
    principal_or_run: Principal | Run,
    run_id: uuid.UUID,
    *,
    after_seq: int = 0,
    include_deltas: bool = True,
    on_subscribed: Callable[[], Awaitable[None]] | None = None,
) -> AsyncIterator[StreamItem]:
    """Durable events with ``seq > after_seq`` from the database, then live ones (durable and,
    with ``include_deltas``, ephemeral `message.delta`) until a terminal or interrupt event,
    or until the run is found in a final status with nothing left to send. ``on_subscribed``
    is awaited once live items are being received, before the replay.

    Raises NotFound when the principal cannot see the run, ShuttingDown when this process
    begins to stop (the run itself goes on).
    """
    sessionmaker = _sessionmaker(runtime)
    run = await _visible_run(sessionmaker, principal_or_run, run_id)
    rid = str(run.id)
    journal = SqlJournal(sessionmaker, run.org_id)
    broker = services_for(sessionmaker).broker
    with broker.subscribe(rid) as queue:
        await broker.ready(rid, _READY_S)  # relayed items flow before we replay
        if on_subscribed is not None:  # from here on nothing published is missed
            await on_subscribed()
        last = after_seq

        async def replay() -> AsyncIterator[StreamItem]:
            nonlocal last
            for record in await journal.events(rid, last):
                last = record.seq
                yield StreamItem(rid, record.type, record.data, record.seq)

        async for item in replay():
            yield item
            if item.is_terminal:
                return
        while True:
            quiet_s = _RELAYED_POLL_S if broker.live(rid) else _POLL_S
            try:
                async with asyncio.timeout(quiet_s):  # not wait_for: it can swallow cancels
                    item = await queue.get()
            except TimeoutError:
                async for item in replay():
                    yield item
                    if item.is_terminal:
                        return
                if (await _status(sessionmaker, run.id)).status in FINAL:
                    async for item in replay():
                        yield item
                    return
                continue
            if item.type == SHUTDOWN:
                raise ShuttingDown(_SHUTDOWN_DETAIL)
            if item.type == REPLAY:
                async for item in replay():
                    yield item
                    if item.is_terminal:
                        return
                continue
            if item.seq is None:
                if include_deltas and not item.type.startswith("_"):
                    yield item
                continue
            if item.seq <= last:
                continue
            if item.seq > last + 1:  # a gap: fill it from the journal first
                async for missed in replay():
                    if missed.seq is not None and missed.seq >= item.seq:
                        break
                    yield missed
            last = item.seq
            yield item
            if item.is_terminal:
                return


async def wait_for_run(
    runtime: Runtime | async_sessionmaker[AsyncSession],
    run_id: uuid.UUID,
    *,
    timeout_s: float | None = None,
    ends_at_shutdown: bool = True,
) -> Run:
    """The run once its status is completed, failed, cancelled or interrupted.

    Ids only: check access first (`get_run`). Raises NotFound, TimeoutError after
    ``timeout_s``, or (with ``ends_at_shutdown``, for a client's request) ShuttingDown when
    this process begins to stop.
    """
    sessionmaker = _sessionmaker(runtime)
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    broker = services_for(sessionmaker).broker
    with broker.subscribe(str(run_id)) as queue:
        await broker.ready(str(run_id), _READY_S)
        while True:
            run = await _status(sessionmaker, run_id)
            if run.status in FINAL:
                return run
            wait = _RELAYED_POLL_S * 2 if broker.live(str(run_id)) else _POLL_S * 2
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    raise TimeoutError(f"run {run_id} still {run.status} after {timeout_s}s")
            item = await _until_status(queue, wait)
            if ends_at_shutdown and item is not None and item.type == SHUTDOWN:
                run = await _status(sessionmaker, run_id)
                if run.status in FINAL:
                    return run
                raise ShuttingDown(_SHUTDOWN_DETAIL)


async def _until_status(queue: asyncio.Queue[StreamItem], wait: float) -> StreamItem | None:
    loop = asyncio.get_running_loop()
    end = loop.time() + wait
    while (left := end - loop.time()) > 0:
        try:
            async with asyncio.timeout(left):
                item = await queue.get()
        except TimeoutError:
            return None
        if item.type in (STATUS_CHANGED, SHUTDOWN):
            return item
    return None
