"""The in-process event bus: fan-out of run events to this process's subscribers, and the
worker wake-up hooks.

Every event the engine publishes (durable ones with their `seq`, ephemeral `message.delta`
without) goes to the subscribers of that run in this process. When API and workers run in
separate processes, a `Relay` (`relay`: PostgreSQL NOTIFY or Redis) also carries each item
to the other processes and delivers theirs here, for the runs this process subscribes to.
Where neither can deliver a run's events (SQLite with several processes, or a relay that is
down), the process's one `watcher` re-reads the journal for all such runs at once and tells
their subscribers what changed. Subscribers never poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from agentdeck.models import Job
    from agentdeck.run.events.relay import Relay
    from agentdeck.run.events.watcher import Watcher


class EagerWorker(Protocol):
    """A worker of this process that takes jobs handed over at commit (`worker.loop`)."""

    id: str

    @property
    def lease_s(self) -> float: ...

    def reserve(self) -> bool: ...

    def unreserve(self) -> None: ...

    def start_eager(self, job: Job) -> None: ...


TERMINAL_EVENTS = frozenset({"run.completed", "run.failed", "run.cancelled", "run.interrupted"})
STATUS_CHANGED = "_status"
"""Internal item: the run row changed (it reached a final status); never streamed."""
REPLAY = "_replay"
"""Internal item: another process stored events too large to relay; re-read the journal."""
SHUTDOWN = "_shutdown"
"""Internal item: this process is shutting down; a stream ends with a final event."""
CANCEL_SIGNAL = "_cancel"
"""Internal item: cancelling the run was requested (its executor stops it)."""
RUNS_CHANGED = "_runs"
"""Internal item on a thread's key (`thread_key`): a run was created on the thread."""
APPROVALS_CHANGED = "_approvals"
"""Internal item on an org's key (`org_key`): one of its runs was interrupted, or a run
interrupted before got an answer (a new run on its thread); the approvals inbox changed."""


def thread_key(thread_id: object) -> str:
    """The bus key of a thread's signals (run keys are run ids)."""
    return f"thread:{thread_id}"


def org_key(org_id: object) -> str:
    """The bus key of an organisation's signals (`APPROVALS_CHANGED`)."""
    return f"org:{org_id}"


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
    _eager: list[EagerWorker] = field(default_factory=list)
    relay: Relay | None = None
    draining: bool = False
    _idle: asyncio.Event = field(default_factory=asyncio.Event)
    _local: Counter[str] = field(default_factory=Counter)
    _watcher: Watcher | None = None
    watch_s: float = 0.25
    """How often the watcher re-reads the runs it covers (see the module doc)."""

    def drain(self) -> None:
        """Tell every subscriber, now and from now on, that this process is shutting down
        (each receives a `SHUTDOWN` item), so streams and waits end instead of holding the
        server open."""
        self.draining = True
        for run_id, subs in self._subscribers.items():
            for queue in subs:
                queue.put_nowait(StreamItem(run_id, SHUTDOWN, {}))

    async def drained(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` until nobody is subscribed (True) or give up (False)."""
        if not self._subscribers:
            return True
        self._idle.clear()
        try:
            async with asyncio.timeout(timeout_s):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    def use_relay(self, relay: Relay | None) -> None:
        """Carry items to and from other processes through ``relay`` (None: in memory only)."""
        if relay is not None:
            relay.bind(self.deliver)
            for run_id, subs in self._subscribers.items():
                for _ in subs:
                    relay.follow(run_id)
        self.relay = relay

    @contextlib.contextmanager
    def subscribe(self, run_id: str) -> Iterator[asyncio.Queue[StreamItem]]:
        """A queue receiving every item published for ``run_id`` while the block runs
        (in this process, and from other processes when there is a relay)."""
        queue: asyncio.Queue[StreamItem] = asyncio.Queue()
        self._subscribers[run_id].add(queue)
        if self.draining:
            queue.put_nowait(StreamItem(run_id, SHUTDOWN, {}))
        if self.relay is not None:
            self.relay.follow(run_id)
        try:
            yield queue
        finally:
            subs = self._subscribers.get(run_id)
            if subs is not None:
                subs.discard(queue)
                if not subs:
                    del self._subscribers[run_id]
            if not self._subscribers:
                self._idle.set()
            if self.relay is not None:
                self.relay.unfollow(run_id)

    @contextlib.contextmanager
    def executing(self, run_id: str) -> Iterator[None]:
        """Mark ``run_id`` as executed by this process while the block runs: its events are
        published here, so the watcher need not read them (only its cancel flag)."""
        self._local[run_id] += 1
        try:
            yield
        finally:
            self._local[run_id] -= 1
            if self._local[run_id] <= 0:
                del self._local[run_id]

    def is_local(self, run_id: str) -> bool:
        return run_id in self._local

    def subscribed(self) -> list[str]:
        """The keys (run ids, thread and org keys) this process has subscribers for."""
        return list(self._subscribers)

    def watch(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        """Make sure the watcher runs (it stops by itself once nobody is subscribed)."""
        if self._watcher is None:
            from agentdeck.run.events.watcher import Watcher

            self._watcher = Watcher(self, sessionmaker)
        self._watcher.ensure_running()

    async def ready(self, run_id: str, timeout_s: float = 1.0) -> bool:
        """Wait until items of ``run_id`` from other processes arrive here (True), or
        return False at once when there is no connected relay."""
        return self.relay is not None and await self.relay.ready(run_id, timeout_s)

    def live(self, run_id: str) -> bool:
        """True when other processes' items of ``run_id`` are being received."""
        return self.relay is not None and self.relay.live(run_id)

    def publish(self, item: StreamItem) -> None:
        """Deliver ``item`` to this process's subscribers and, through the relay, to the
        other processes' (never raises: the relay drops what it cannot send)."""
        self.deliver(item)
        if self.relay is not None:
            self.relay.send(item)

    def deliver(self, item: StreamItem) -> None:
        """Deliver ``item`` to this process's subscribers only."""
        for queue in self._subscribers.get(item.run_id, ()):
            queue.put_nowait(item)

    def status_changed(self, run_id: str, status: str | None = None) -> None:
        """Tell waiters the run row has a new (committed) status, named when known."""
        self.publish(StreamItem(run_id, STATUS_CHANGED, {"status": status} if status else {}))

    def add_waker(self, wake: Callable[[], None]) -> None:
        """Register a worker's ``wake`` (called after a run job is committed)."""
        self._wakers.append(wake)

    def wake_workers(self) -> None:
        for wake in list(self._wakers):
            wake()

    def add_eager_worker(self, worker: EagerWorker) -> None:
        """Register a worker that accepts jobs handed over at commit."""
        self._eager.append(worker)

    def reserve_worker(self) -> EagerWorker | None:
        """A worker of this process that reserved a slot for one job, or None (all full)."""
        for worker in self._eager:
            if worker.reserve():
                return worker
        return None


WhenDurable = Callable[[Callable[[], None], str | None], None]
"""``when_durable(callback, run_id)``: the journal calls back once what it holds is stored."""


def _now(callback: Callable[[], None], run_id: str | None = None) -> None:
    callback()


class BrokerSink:
    """The engine's EventSink on a broker. ``when_durable`` (the journal's) delays each
    delivery until what was journaled before it is committed; ephemeral items take the same
    path so they never overtake the durable ones."""

    def __init__(self, broker: Broker, when_durable: WhenDurable = _now) -> None:
        self.broker = broker
        self.when_durable = when_durable

    async def publish(self, run_id: str, seq: int, type: str, data: dict[str, Any]) -> None:
        self.when_durable(
            functools.partial(self.broker.publish, StreamItem(run_id, type, data, seq)), run_id
        )

    async def publish_ephemeral(self, run_id: str, type: str, data: dict[str, Any]) -> None:
        item = StreamItem(run_id, type, data)
        self.when_durable(functools.partial(self.broker.publish, item), run_id)
