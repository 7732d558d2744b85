"""In-process fan-out of run events, and the worker wake-up hooks.

Every event the engine publishes (durable ones with their `seq`, ephemeral `message.delta`
without) goes to the subscribers of that run in this process. Other processes see durable
events by reading the `run_events` table (`service.stream_events` polls while it waits), so
streaming works across API and worker processes on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

TERMINAL_EVENTS = frozenset({"run.completed", "run.failed", "run.cancelled", "run.interrupted"})
STATUS_CHANGED = "_status"
"""Internal item: the run row changed (it reached a final status); never streamed."""


@dataclass(frozen=True, slots=True)
class StreamItem:
    """One streamed event. `seq` is the durable per-run sequence number (the SSE id);
    it is None for ephemeral events (`message.delta`)."""

    run_id: str
    type: str
    data: dict[str, Any]
    seq: int | None = None

    @property
    def is_terminal(self) -> bool:
        return self.type in TERMINAL_EVENTS


@dataclass
class Broker:
    """Per-run subscriber queues plus callbacks that wake this process's workers."""

    _subscribers: dict[str, set[asyncio.Queue[StreamItem]]] = field(
        default_factory=lambda: defaultdict(set)
    )
    _wakers: list[Callable[[], None]] = field(default_factory=list)

    @contextlib.contextmanager
    def subscribe(self, run_id: str) -> Iterator[asyncio.Queue[StreamItem]]:
        """A queue receiving every item published for ``run_id`` while the block runs."""
        queue: asyncio.Queue[StreamItem] = asyncio.Queue()
        self._subscribers[run_id].add(queue)
        try:
            yield queue
        finally:
            subs = self._subscribers.get(run_id)
            if subs is not None:
                subs.discard(queue)
                if not subs:
                    del self._subscribers[run_id]

    def publish(self, item: StreamItem) -> None:
        for queue in self._subscribers.get(item.run_id, ()):
            queue.put_nowait(item)

    def status_changed(self, run_id: str) -> None:
        """Tell waiters the run row has a new status."""
        self.publish(StreamItem(run_id, STATUS_CHANGED, {}))

    def add_waker(self, wake: Callable[[], None]) -> None:
        """Register a worker's ``wake`` (called after a run job is committed)."""
        self._wakers.append(wake)

    def wake_workers(self) -> None:
        for wake in list(self._wakers):
            wake()


class BrokerSink:
    """The engine's EventSink on a broker (events are already journaled when published)."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    async def publish(self, run_id: str, seq: int, type: str, data: dict[str, Any]) -> None:
        self.broker.publish(StreamItem(run_id, type, data, seq))

    async def publish_ephemeral(self, run_id: str, type: str, data: dict[str, Any]) -> None:
        self.broker.publish(StreamItem(run_id, type, data))
