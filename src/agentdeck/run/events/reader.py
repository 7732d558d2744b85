"""Streaming a run's events (replay, then live) and waiting for a run to stop.

The reader takes a run whose access the caller has checked (`run.service` does). No database
transaction is held while streaming, and nothing polls: after subscribing to the bus (and,
with a relay, once the run's channel is live), the durable events after ``after_seq`` are
read from the journal once, then live items arrive from the bus. The journal is read again
only when the bus says something was missed: a gap in `seq`, a `REPLAY` (an event too large
to relay, a relay that reconnected, or the watcher seeing new events of a run no one relays)
or a `STATUS_CHANGED` (the run may have ended without a streamed terminal event).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agentdeck.errors import NotFound, ShuttingDown
from agentdeck.models import Run
from agentdeck.run.events.bus import REPLAY, SHUTDOWN, STATUS_CHANGED, Broker, StreamItem
from agentdeck.run.journal import open_journal
from agentdeck.run.repository import FINAL, run_by_id
from agentdeck.run.services import services_for

_READY_S = 1.0
_SHUTDOWN_DETAIL = "the server is shutting down; the run goes on: follow it again"


async def _status(sessionmaker: async_sessionmaker[AsyncSession], run_id: uuid.UUID) -> Run:
    async with sessionmaker() as session:
        run = await run_by_id(session, run_id)
    if run is None:
        raise NotFound("run not found")
    return run


async def _subscribed(
    bus: Broker, sessionmaker: async_sessionmaker[AsyncSession], run_id: str
) -> None:
    """Once the run's live items flow here (relayed, or covered by the watcher)."""
    if not await bus.ready(run_id, _READY_S) and not bus.is_local(run_id):
        bus.watch(sessionmaker)


async def stream_events(
    sessionmaker: async_sessionmaker[AsyncSession],
    run: Run,
    *,
    after_seq: int = 0,
    include_deltas: bool = True,
    on_subscribed: Callable[[], Awaitable[None]] | None = None,
) -> AsyncIterator[StreamItem]:
    """Durable events with ``seq > after_seq`` from the journal, then live ones (durable and,
    with ``include_deltas``, ephemeral `message.delta`) until a terminal or interrupt event,
    or until the run is found in a final status with nothing left to send. ``on_subscribed``
    is awaited once live items are being received, before the replay.

    Raises ShuttingDown when this process begins to stop (the run itself goes on).
    """
    rid = str(run.id)
    journal = open_journal(sessionmaker, run.org_id)
    bus = services_for(sessionmaker).broker
    with bus.subscribe(rid) as queue:
        await _subscribed(bus, sessionmaker, rid)
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
        if run.status in FINAL:  # it had ended before we subscribed: the replay was all
            return
        while True:
            item = await queue.get()
            if item.type == SHUTDOWN:
                raise ShuttingDown(_SHUTDOWN_DETAIL)
            if item.type in (REPLAY, STATUS_CHANGED):
                async for missed in replay():
                    yield missed
                    if missed.is_terminal:
                        return
                if (
                    item.type == STATUS_CHANGED
                    and (await _status(sessionmaker, run.id)).status in FINAL
                ):
                    async for missed in replay():
                        yield missed
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
    sessionmaker: async_sessionmaker[AsyncSession],
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
    await wait_until_stopped(
        sessionmaker, run_id, timeout_s=timeout_s, ends_at_shutdown=ends_at_shutdown
    )
    return await _status(sessionmaker, run_id)


async def wait_until_stopped(
    sessionmaker: async_sessionmaker[AsyncSession],
    run_id: uuid.UUID,
    *,
    timeout_s: float | None = None,
    ends_at_shutdown: bool = True,
    known: str | None = None,
) -> str:
    """The run's final status, once it has one (what `wait_for_run` waits for, without
    reading the run at the end: the bus names the status it committed). ``known`` is the
    status the caller has just seen (a run it created: ``"pending"``), which saves the first
    read. Raises as `wait_for_run` does.
    """
    bus = services_for(sessionmaker).broker
    rid = str(run_id)
    with bus.subscribe(rid) as queue:
        await _subscribed(bus, sessionmaker, rid)
        status = known
        async with asyncio.timeout(timeout_s):
            while True:
                if status is None:
                    status = (await _status(sessionmaker, run_id)).status
                if status in FINAL:
                    return status
                item = await _until_status(queue)
                status = item.data.get("status") if item.type == STATUS_CHANGED else None
                if ends_at_shutdown and item.type == SHUTDOWN:
                    status = (await _status(sessionmaker, run_id)).status
                    if status in FINAL:
                        return status
                    raise ShuttingDown(_SHUTDOWN_DETAIL)


async def _until_status(queue: asyncio.Queue[StreamItem]) -> StreamItem:
    """The next item that may mean the run's status changed."""
    while True:
        item = await queue.get()
        if item.type in (STATUS_CHANGED, SHUTDOWN):
            return item
