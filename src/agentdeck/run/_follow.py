"""Following a run or a thread for the WebSocket: access checks, then events as messages.

A run subscription replays the run's durable events after ``after_seq`` and follows it live
(with `message.delta` tokens) until it stops. A thread subscription follows every run of the
thread that is active when it starts or that starts later, each from its first event: the
thread's runs are listed again only when the bus signals a new one (`RUNS_CHANGED` on the
thread's key, relayed or seen by the watcher). No transaction is held while following.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

import structlog

from agentdeck.errors import NotFound, ShuttingDown
from agentdeck.run import service
from agentdeck.run.events.bus import RUNS_CHANGED, SHUTDOWN, StreamItem, thread_key
from agentdeck.run.repository import FINAL, scoped_thread
from agentdeck.run.services import services_for

if TYPE_CHECKING:
    from agentdeck.auth.principal import Principal
    from agentdeck.runtime import Runtime

log = structlog.get_logger(__name__)
Emit = Callable[[dict[str, Any]], Awaitable[None]]
_THREAD_WINDOW = 20


def event_message(item: StreamItem, thread_id: uuid.UUID | None = None) -> dict[str, Any]:
    """One event as the WebSocket sends it (``seq`` is None for `message.delta`)."""
    message: dict[str, Any] = {
        "run_id": item.run_id, "seq": item.seq, "type": item.type, "data": item.data,
    }  # fmt: skip
    if thread_id is not None:
        message["thread_id"] = str(thread_id)
    return message


async def follow_run(
    runtime: Runtime,
    principal: Principal,
    run_id: uuid.UUID,
    emit: Emit,
    *,
    after_seq: int = 0,
    include_deltas: bool = True,
) -> None:
    """Emit ``subscribed``, the run's events, then ``unsubscribed`` once it has stopped.

    Raises NotFound when the principal cannot see the run (also for other tenants' runs).
    """
    async with runtime.sessionmaker() as session:
        run = await service.get_run(session, principal, run_id)

    async def subscribed() -> None:
        await emit({"type": "subscribed", "run_id": str(run_id)})

    async for item in service.stream_events(
        runtime, run, run.id, after_seq=after_seq, include_deltas=include_deltas,
        on_subscribed=subscribed,
    ):  # fmt: skip
        await emit(event_message(item))
    await emit({"type": "unsubscribed", "run_id": str(run_id), "reason": "run stopped"})


async def follow_thread(
    runtime: Runtime,
    principal: Principal,
    thread_id: uuid.UUID,
    emit: Emit,
    *,
    include_deltas: bool = True,
) -> None:
    """Emit ``subscribed``, then the events of the thread's active and later runs, until
    cancelled. Raises NotFound when the principal cannot see the thread."""
    async with runtime.sessionmaker() as session:
        thread = await scoped_thread(session, principal.scope, thread_id)
    if thread is None:
        raise NotFound("thread not found")
    await emit({"type": "subscribed", "thread_id": str(thread_id)})

    async def stream(run: Any) -> None:
        try:
            async for item in service.stream_events(
                runtime, run, run.id, include_deltas=include_deltas
            ):
                await emit(event_message(item, thread_id))
        except ShuttingDown:
            return  # the thread's loop says so once
        except Exception:  # one run's stream failing must not end the thread's
            log.exception("run.ws_thread_stream_failed", run_id=str(run.id))

    bus = services_for(runtime.sessionmaker).broker
    key = thread_key(thread_id)
    with bus.subscribe(key) as signals:
        if not await bus.ready(key):
            bus.watch(runtime.sessionmaker)
        await _follow_runs(runtime, principal, thread_id, signals, stream)


async def _follow_runs(
    runtime: Runtime,
    principal: Principal,
    thread_id: uuid.UUID,
    signals: asyncio.Queue[StreamItem],
    stream: Callable[[Any], Coroutine[Any, Any, None]],
) -> None:
    """Start ``stream`` for each new run of the thread, listing its runs at the start and
    whenever ``signals`` says one was created; until cancelled or shutdown."""
    seen: set[uuid.UUID] = set()
    followers: set[asyncio.Task[None]] = set()
    first = True
    try:
        while True:
            async with runtime.sessionmaker() as session:
                page = await service.list_runs(
                    session, principal, thread_id=thread_id, limit=_THREAD_WINDOW
                )
            for run in reversed(page.items):  # oldest first, so events keep the runs' order
                if run.id in seen:
                    continue
                seen.add(run.id)
                if first and run.status in FINAL:
                    continue  # history is read over HTTP; this follows what happens next
                task = asyncio.create_task(stream(run))
                followers.add(task)
                task.add_done_callback(followers.discard)
            first = False
            while (item := await signals.get()).type != RUNS_CHANGED:
                if item.type == SHUTDOWN:
                    raise ShuttingDown("the server is shutting down; subscribe again")
    finally:
        for task in followers:
            task.cancel()
        await asyncio.gather(*followers, return_exceptions=True)
